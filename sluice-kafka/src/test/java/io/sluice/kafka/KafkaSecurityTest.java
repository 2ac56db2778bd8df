package io.sluice.kafka;

import io.sluice.Message;
import io.sluice.PublishException;
import io.sluice.Sluice;
import io.sluice.brokers.kafka.KafkaBroker;
import io.sluice.brokers.kafka.TlsMaterial;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.PublisherOptions;
import io.sluice.config.SluiceConfig;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * TLS and SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) against a broker with SSL, SASL_SSL and SASL_PLAINTEXT listeners
 * and a certificate made for the test.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class KafkaSecurityTest {
    private static final String PASSWORD = "alice-Secret-42";
    private static KafkaBroker broker;

    @BeforeAll
    static void startBroker() {
        // billing/s3cret: the credentials of the examples in docs/kafka.md.
        broker = KafkaBroker.builder().tls().saslUser("alice", PASSWORD).saslUser("billing", "s3cret").start();
    }

    @AfterAll
    static void stopBroker() {
        if (broker != null) {
            broker.close();
        }
    }

    private static Map<String, Object> tls(String protocol, Map<String, Object> extra) {
        TlsMaterial tls = broker.tls().orElseThrow();
        Map<String, Object> security = new java.util.HashMap<>(Map.of("protocol", protocol,
                "trustStore", tls.trustStore().toString(), "trustStorePassword", tls.password(),
                "trustStoreType", "PKCS12"));
        security.putAll(extra);
        return security;
    }

    private static void roundTrip(Map<String, Object> settings) throws Exception {
        try (Sluice sluice = Sluice.create(new KafkaTransport(KafkaSettings.of(settings)), SluiceConfig.of("kafka"))) {
            roundTrip(sluice);
        }
    }

    private static void roundTrip(Sluice sluice) throws Exception {
        String topic = "secure-" + Long.toHexString(System.nanoTime());
        List<String> got = new CopyOnWriteArrayList<>();
        sluice.subscribe(topic, topic + "-g", m -> got.add(m.payloadAsString()), ConsumerOptions.defaults());
        sluice.publisher().publish(topic, Message.of("k", "over the wire")).get(60, TimeUnit.SECONDS);
        await().atMost(Duration.ofSeconds(60)).until(() -> got.contains("over the wire"));
    }

    /**
     * The YAML of docs/kafka.md "Security", as written there, with the page's addresses, trust store and store
     * password replaced by this broker's.
     */
    @Test
    void shouldRunTheDocumentedTlsAndSaslPlainExamples(@TempDir Path dir) throws Exception {
        TlsMaterial tls = broker.tls().orElseThrow();
        String tlsYaml = """
                transport: kafka
                kafka:
                  bootstrapServers: broker1:9093
                  security:
                    protocol: ssl
                    trustStore: /etc/sluice/truststore.p12
                    trustStorePassword: changeit
                """;
        String saslYaml = """
                transport: kafka
                kafka:
                  bootstrapServers: broker1:9094
                  security:
                    protocol: sasl_ssl
                    trustStore: /etc/sluice/truststore.p12
                    trustStorePassword: changeit
                    sasl:
                      mechanism: PLAIN          # or SCRAM-SHA-256 / SCRAM-SHA-512
                      username: billing
                      password: s3cret
                """;
        for (String yaml : List.of(tlsYaml, saslYaml)) {
            Path file = dir.resolve("sluice.yaml");
            Files.writeString(file, yaml.replace("broker1:9093", broker.sslBootstrapServers())
                    .replace("broker1:9094", broker.saslBootstrapServers())
                    .replace("/etc/sluice/truststore.p12", tls.trustStore().toString())
                    .replace("changeit", tls.password()));
            try (Sluice sluice = Sluice.fromYaml(file)) {
                roundTrip(sluice);
            }
        }
    }

    @Test
    void shouldRoundTripOverTls() throws Exception {
        roundTrip(Map.of("bootstrapServers", broker.sslBootstrapServers(), "security", tls("ssl", Map.of())));
    }

    @Test
    void shouldRoundTripOverSaslPlainWithTls() throws Exception {
        roundTrip(Map.of("bootstrapServers", broker.saslBootstrapServers(), "security", tls("sasl_ssl",
                Map.of("sasl", Map.of("mechanism", "PLAIN", "username", "alice", "password", PASSWORD)))));
    }

    @Test
    void shouldRoundTripOverScramSha256WithTls() throws Exception {
        roundTrip(Map.of("bootstrapServers", broker.saslBootstrapServers(), "security", tls("sasl_ssl",
                Map.of("sasl", Map.of("mechanism", "SCRAM-SHA-256", "username", "alice", "password", PASSWORD)))));
    }

    @Test
    void shouldRoundTripOverScramSha512WithoutTls() throws Exception {
        roundTrip(Map.of("bootstrapServers", broker.saslPlaintextBootstrapServers(), "security", Map.of(
                "protocol", "sasl_plaintext",
                "sasl", Map.of("mechanism", "scram-sha-512", "username", "alice", "password", PASSWORD))));
    }

    @Test
    void shouldRoundTripOverSaslPlainWithoutTls() throws Exception {
        roundTrip(Map.of("bootstrapServers", broker.saslPlaintextBootstrapServers(), "security", Map.of(
                "protocol", "sasl_plaintext", "sasl", Map.of("username", "alice", "password", PASSWORD))));
    }

    @Test
    void shouldFailScramWithWrongPasswordClearly() {
        String wrong = "not-the-password-8";
        KafkaSettings settings = KafkaSettings.of(Map.of("bootstrapServers", broker.saslPlaintextBootstrapServers(),
                "security", Map.of("protocol", "sasl_plaintext",
                        "sasl", Map.of("mechanism", "SCRAM-SHA-256", "username", "alice", "password", wrong))));
        SluiceConfig config = SluiceConfig.of("kafka").withPublisher(PublisherOptions.builder().maxRetries(0).build());
        try (Sluice sluice = Sluice.create(new KafkaTransport(settings), config)) {
            assertThatThrownBy(() -> sluice.publisher().publish("secure-denied", Message.of("k", "x"))
                    .get(60, TimeUnit.SECONDS))
                    .cause().isInstanceOf(PublishException.class)
                    .hasMessageContaining("authentication with the Kafka brokers at "
                            + broker.saslPlaintextBootstrapServers() + " failed")
                    .hasMessageContaining("SCRAM-SHA-256")
                    .satisfies(e -> assertThat(e.getMessage()).doesNotContain(wrong));
        }
    }

    @Test
    void shouldFailPublishClearlyWithWrongPasswordAndNeverShowIt() {
        String wrong = "not-the-password-7";
        KafkaSettings settings = KafkaSettings.of(Map.of("bootstrapServers", broker.saslBootstrapServers(),
                "security", tls("sasl_ssl", Map.of("sasl", Map.of("username", "alice", "password", wrong)))));
        assertThat(settings.toString()).doesNotContain(wrong).contains("[hidden]");
        SluiceConfig config = SluiceConfig.of("kafka").withPublisher(PublisherOptions.builder().maxRetries(0).build());
        try (Sluice sluice = Sluice.create(new KafkaTransport(settings), config)) {
            assertThatThrownBy(() -> sluice.publisher().publish("secure-denied", Message.of("k", "x"))
                    .get(60, TimeUnit.SECONDS))
                    .isInstanceOf(ExecutionException.class)
                    .cause().isInstanceOf(PublishException.class)
                    .hasMessageContaining("authentication with the Kafka brokers at " + broker.saslBootstrapServers()
                            + " failed")
                    .hasMessageContaining("Invalid username or password")
                    .hasMessageContaining("check kafka.security")
                    .satisfies(e -> assertThat(e.getMessage()).doesNotContain(wrong));
        }
    }

    @Test
    void shouldFailPublishClearlyWhenTheBrokerCertificateIsNotTrusted() {
        KafkaSettings settings = KafkaSettings.of(Map.of("bootstrapServers", broker.sslBootstrapServers(),
                "security", Map.of("protocol", "ssl")));
        SluiceConfig config = SluiceConfig.of("kafka").withPublisher(PublisherOptions.builder().maxRetries(0).build());
        try (Sluice sluice = Sluice.create(new KafkaTransport(settings), config)) {
            assertThatThrownBy(() -> sluice.publisher().publish("secure-untrusted", Message.of("k", "x"))
                    .get(60, TimeUnit.SECONDS))
                    .cause().isInstanceOf(PublishException.class)
                    .hasMessageContaining("authentication with the Kafka brokers")
                    .hasMessageContaining("SSL handshake failed");
        }
    }
}
