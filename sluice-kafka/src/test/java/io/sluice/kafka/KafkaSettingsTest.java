package io.sluice.kafka;

import io.sluice.config.ConfigException;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Validation of the {@code kafka:} section: every error names the key and echoes the value; secrets stay hidden. */
class KafkaSettingsTest {

    private static Map<String, Object> base(Object... keysAndValues) {
        Map<String, Object> m = new HashMap<>(Map.of("bootstrapServers", "127.0.0.1:9092"));
        for (int i = 0; i < keysAndValues.length; i += 2) {
            m.put((String) keysAndValues[i], keysAndValues[i + 1]);
        }
        return m;
    }

    @Test
    void shouldRequireBootstrapServers() {
        assertThatThrownBy(() -> KafkaSettings.of(Map.of()))
                .isInstanceOf(ConfigException.class)
                .hasMessage("Invalid value null for configuration kafka.bootstrapServers: must name the brokers to "
                        + "connect to, such as 127.0.0.1:9092 or host1:9092,host2:9092");
        assertThatThrownBy(() -> KafkaSettings.of(Map.of("bootstrapServers", "localhost")))
                .isInstanceOf(ConfigException.class)
                .hasMessage("Invalid value 'localhost' for configuration kafka.bootstrapServers: must be a "
                        + "comma-separated list of host:port, such as 127.0.0.1:9092 or host1:9092,host2:9092");
    }

    @Test
    void shouldRejectBadValuesNamingTheKey() {
        assertThatThrownBy(() -> KafkaSettings.of(base("compression", "brotli")))
                .hasMessage("Invalid value 'brotli' for configuration kafka.compression: must be one of none, gzip, "
                        + "snappy, lz4, zstd");
        assertThatThrownBy(() -> KafkaSettings.of(base("linger", "2m")))
                .hasMessage("Invalid value '2m' for configuration kafka.linger: must be between 0s and 1m");
        assertThatThrownBy(() -> KafkaSettings.of(base("batchSize", "1GiB")))
                .hasMessageStartingWith("Invalid value 1073741824 for configuration kafka.batchSize: must be between 0");
        assertThatThrownBy(() -> KafkaSettings.of(base("delayTiers", List.of("1m", "5s"))))
                .hasMessage("Invalid value [1m, 5s] for configuration kafka.delayTiers: must list increasing "
                        + "durations, such as [5s, 1m, 10m]");
        assertThatThrownBy(() -> KafkaSettings.of(base("security", Map.of("protocol", "tls"))))
                .hasMessage("Invalid value 'tls' for configuration kafka.security.protocol: must be one of plaintext, "
                        + "ssl, sasl_plaintext, sasl_ssl");
        assertThatThrownBy(() -> KafkaSettings.of(base("security", Map.of("protocol", "sasl_ssl",
                "sasl", Map.of("mechanism", "GSSAPI", "username", "u", "password", "p")))))
                .hasMessage("Invalid value 'GSSAPI' for configuration kafka.security.sasl.mechanism: must be one of "
                        + "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512");
    }

    @Test
    void shouldRejectPassThroughOfPropertiesSluiceManages() {
        assertThatThrownBy(() -> KafkaSettings.of(base("consumerProperties", Map.of("enable.auto.commit", "true"))))
                .isInstanceOf(ConfigException.class)
                .hasMessage("Invalid value 'true' for configuration kafka.consumerProperties.enable.auto.commit: is "
                        + "managed by Sluice and cannot be passed through; use the kafka.* settings instead");
    }

    @Test
    void shouldRejectCredentialsWithoutASaslProtocolWithoutEchoingThePassword() {
        assertThatThrownBy(() -> KafkaSettings.of(base("security", Map.of("sasl", Map.of("password", "pw-123")))))
                .isInstanceOf(ConfigException.class)
                .hasMessage("Invalid value '[hidden]' for configuration kafka.security.sasl.password: needs "
                        + "security.protocol sasl_plaintext or sasl_ssl (it is plaintext)");
    }

    @Test
    void shouldRejectUnknownKeysAtEveryLevel() {
        assertThatThrownBy(() -> KafkaSettings.of(base("lingerMs", 5)))
                .hasMessageStartingWith("Unknown configuration key kafka.lingerMs; known keys here: batchSize, "
                        + "bootstrapServers");
        assertThatThrownBy(() -> KafkaSettings.of(base("security", Map.of("protocol", "ssl", "trustStorPassword",
                "x"))))
                .hasMessageStartingWith("Unknown configuration key kafka.security.trustStorPassword");
    }

    @Test
    void shouldHideSecretsInToString() {
        KafkaSettings s = KafkaSettings.of(base("security", Map.of("protocol", "sasl_plaintext",
                "sasl", Map.of("username", "alice", "password", "pw-very-secret")),
                "properties", Map.of("ssl.key.password", "key-secret", "metadata.max.age.ms", "30000")));
        assertThat(s.toString()).doesNotContain("pw-very-secret").doesNotContain("key-secret")
                .contains("sasl.jaas.config=[hidden]").contains("ssl.key.password=[hidden]")
                .contains("metadata.max.age.ms=30000");
    }

    @Test
    void shouldGiveAShortDeliveryTimeoutARequestTimeoutKafkaAccepts() {
        KafkaSettings s = KafkaSettings.of(base("deliveryTimeout", "10s"));
        assertThat(s.producer("p")).containsEntry("delivery.timeout.ms", "10000")
                .containsEntry("request.timeout.ms", "9995").containsEntry("linger.ms", "5");
        // Kafka's producer checks delivery.timeout.ms >= linger.ms + request.timeout.ms when it is built.
        new KafkaProducer<byte[], byte[]>(s.producer("p")).close(java.time.Duration.ZERO);
        assertThatThrownBy(() -> KafkaSettings.of(base("deliveryTimeout", "1s", "linger", "500ms")))
                .isInstanceOf(ConfigException.class)
                .hasMessage("Invalid value '1s' for configuration kafka.deliveryTimeout: must be at least kafka.linger "
                        + "(500ms) plus 1s: a send waits for its batch to fill and then for the broker's answer");
        assertThatThrownBy(() -> KafkaSettings.of(base("producerProperties", Map.of("request.timeout.ms", "200000"))))
                .isInstanceOf(ConfigException.class)
                .hasMessage("Invalid value 200000 for configuration kafka.producerProperties.request.timeout.ms: "
                        + "leaves delivery.timeout.ms (120000) below linger.ms + request.timeout.ms (5 + 200000), "
                        + "which Kafka's producer refuses");
    }

    @Test
    void shouldRequireAcksAllBecauseDeadLettersAndTierHandOffsCountOnIt() {
        assertThatThrownBy(() -> KafkaSettings.of(base("producerProperties", Map.of("acks", "1"))))
                .isInstanceOf(ConfigException.class)
                .hasMessageStartingWith("Invalid value '1' for configuration kafka.producerProperties.acks: must be "
                        + "all: Sluice counts a dead letter or a delay-tier hand-off as done");
        assertThatThrownBy(() -> KafkaSettings.of(base("properties", Map.of("acks", "0"), "idempotence", false)))
                .isInstanceOf(ConfigException.class)
                .hasMessageStartingWith("Invalid value '0' for configuration kafka.properties.acks: must be all");
        assertThat(KafkaSettings.of(base("producerProperties", Map.of("acks", "-1"))).producer("p"))
                .containsEntry("acks", "-1");
        assertThat(KafkaSettings.of(base("idempotence", false)).producer("p")).as("idempotence off keeps acks=all")
                .containsEntry("acks", "all").containsEntry("enable.idempotence", "false");
        assertThatThrownBy(() -> KafkaSettings.of(base("producerProperties", Map.of("enable.idempotence", "false"))))
                .isInstanceOf(ConfigException.class)
                .hasMessage("Invalid value 'false' for configuration kafka.producerProperties.enable.idempotence: is "
                        + "managed by Sluice and cannot be passed through; use the kafka.* settings instead");
    }

    @Test
    void shouldRejectRawPropertiesKafkaWouldRefuseWhenTheSettingsAreBuilt() {
        assertThatThrownBy(() -> KafkaSettings.of(base("consumerProperties", Map.of("max.poll.records", "lots"))))
                .isInstanceOf(ConfigException.class)
                .hasMessage("Invalid value 'lots' for configuration kafka.consumerProperties.max.poll.records: Not a "
                        + "number of type INT");
        assertThatThrownBy(() -> KafkaSettings.of(base("consumerProperties", Map.of("isolation.level", "dirty"))))
                .isInstanceOf(ConfigException.class)
                .hasMessageStartingWith("Invalid value 'dirty' for configuration kafka.consumerProperties."
                        + "isolation.level: String must be one of");
        assertThatThrownBy(() -> KafkaSettings.of(base("properties", Map.of("metadata.max.age.ms", "-5"))))
                .isInstanceOf(ConfigException.class)
                .hasMessageStartingWith("Invalid value '-5' for configuration kafka.properties.metadata.max.age.ms:");
        assertThatThrownBy(() -> KafkaSettings.of(base("producerProperties",
                Map.of("max.in.flight.requests.per.connection", "10"))))
                .isInstanceOf(ConfigException.class)
                .hasMessage("Invalid value 10 for configuration kafka.producerProperties."
                        + "max.in.flight.requests.per.connection: must be at most 5 while kafka.idempotence is true "
                        + "(Kafka's idempotent producer keeps order only that far)");
        assertThatThrownBy(() -> KafkaSettings.of(base("producerProperties", Map.of("retries", "0"))))
                .isInstanceOf(ConfigException.class)
                .hasMessage("Invalid value 0 for configuration kafka.producerProperties.retries: must be more than 0 "
                        + "while kafka.idempotence is true");
        assertThatThrownBy(() -> KafkaSettings.of(base("producerProperties",
                Map.of("partitioner.class", "com.example.Missing"))))
                .isInstanceOf(ConfigException.class)
                .hasMessage("Invalid value 'com.example.Missing' for configuration "
                        + "kafka.producerProperties.partitioner.class: Class com.example.Missing could not be found.");
    }

    @Test
    void shouldHideKeyMaterialAndEveryPasswordTypedProperty() {
        String pem = "-----BEGIN PRIVATE KEY-----MIIEvQIBADANBgkqhkiG9w0B-----END PRIVATE KEY-----";
        KafkaSettings s = KafkaSettings.of(base("properties", Map.of("ssl.keystore.key", pem,
                "ssl.keystore.certificate.chain", "chain-text", "sasl.oauthbearer.client.secret", "oauth-secret"),
                "consumerProperties", Map.of("sasl.login.callback.handler.class.token", "t0ken")));
        assertThat(s.toString()).doesNotContain(pem).doesNotContain("MIIEvQ").doesNotContain("chain-text")
                .doesNotContain("t0ken").contains("ssl.keystore.key=[hidden]");
        assertThat(new KafkaTransport(s).toString()).doesNotContain("MIIEvQ").contains("ssl.keystore.key=[hidden]");
    }

    @Test
    void shouldTakeTheSyncCommitTimeoutFromTheConsumersDefaultApiTimeout() {
        assertThat(KafkaSettings.of(base()).syncCommitTimeout()).isEqualTo(java.time.Duration.ofSeconds(30));
        assertThat(KafkaSettings.of(base("consumerProperties", Map.of("default.api.timeout.ms", "2500")))
                .syncCommitTimeout()).isEqualTo(java.time.Duration.ofMillis(2500));
    }

    @Test
    void shouldBuildIdempotentProducerAndNonCommittingCooperativeConsumer() {
        KafkaSettings s = KafkaSettings.of(base("linger", "20ms", "batchSize", "128KiB", "compression", "lz4",
                "producerProperties", Map.of("buffer.memory", "67108864"),
                // YAML writes unquoted dotted keys as nested maps; they are joined back.
                "consumerProperties", Map.of("max", Map.of("poll", Map.of("records", 100)))));
        Map<String, Object> producer = s.producer("p");
        assertThat(producer).containsEntry("acks", "all").containsEntry("enable.idempotence", "true")
                .containsEntry("linger.ms", "20").containsEntry("batch.size", "131072")
                .containsEntry("compression.type", "lz4").containsEntry("buffer.memory", "67108864");
        Map<String, Object> consumer = s.consumer("c", "g", false);
        assertThat(consumer).containsEntry("enable.auto.commit", "false").containsEntry("group.id", "g")
                .containsEntry("auto.offset.reset", "earliest").containsEntry("max.poll.records", "100")
                .containsEntry("partition.assignment.strategy",
                        "org.apache.kafka.clients.consumer.CooperativeStickyAssignor")
                .containsEntry("isolation.level", "read_committed");
        assertThat(KafkaSettings.of(base("consumerProperties", Map.of("isolation.level", "read_uncommitted")))
                .consumer("c", "g", false)).as("a raw isolation level wins")
                .containsEntry("isolation.level", "read_uncommitted");
    }
}
