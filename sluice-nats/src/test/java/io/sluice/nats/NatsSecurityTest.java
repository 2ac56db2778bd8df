package io.sluice.nats;

import io.sluice.Message;
import io.sluice.Sluice;
import io.sluice.SluiceException;
import io.sluice.brokers.nats.NatsServer;
import io.sluice.brokers.nats.TlsMaterial;
import io.sluice.config.ConsumerOptions;
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
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/** TLS with certificates generated here (the client verifies the CA), and user/password and token auth. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class NatsSecurityTest {
    @TempDir
    static Path dir;
    private static TlsMaterial tls;
    private static NatsServer tlsServer;
    private static NatsServer tokenServer;

    @BeforeAll
    static void startServers() {
        tls = TlsMaterial.generate(dir.resolve("tls"));
        tlsServer = NatsServer.builder().tls(tls.serverCertificate(), tls.serverKey())
                .userPassword("app", "correct horse").start();
        tokenServer = NatsServer.builder().token("t0ken-s3cret").start();
    }

    @AfterAll
    static void stopServers() {
        tlsServer.close();
        tokenServer.close();
    }

    @Test
    void shouldPublishAndConsumeOverTlsWithUserPasswordWhenClientTrustsTheCa(@TempDir Path dir) throws Exception {
        // The configuration of docs/nats.md "TLS and authentication", with this server's URL and trust store.
        Path yaml = dir.resolve("sluice.yaml");
        Files.writeString(yaml, """
                transport: nats
                nats:
                  servers: [%s]
                  user: app
                  password: correct horse                  # never logged or printed
                  tls:
                    trustStore: %s     # the CA that signed the server certificate
                    trustStorePassword: %s
                """.formatted(tlsServer.url(), tls.trustStore(), tls.trustStorePassword()));
        try (Sluice sluice = Sluice.fromYaml(yaml)) {
            assertThat(sluice.transport().toString()).doesNotContain("correct horse")
                    .doesNotContain(tls.trustStorePassword());
            List<String> got = new CopyOnWriteArrayList<>();
            sluice.subscribe("secure", "g", m -> got.add(m.payloadAsString()), ConsumerOptions.defaults());
            sluice.publisher().publish("secure", Message.of("k", "over tls")).join();
            await().atMost(Duration.ofSeconds(30)).until(() -> got.contains("over tls"));
        }
    }

    @Test
    void shouldRefuseWrongPasswordWithClearError() {
        // jnats waits out the connect timeout after the server's refusal, which comes within milliseconds.
        NatsSettings settings = NatsSettings.builder().server(tlsServer.url()).userPassword("app", "wrong")
                .connectTimeout(Duration.ofSeconds(1))
                .trustStore(tls.trustStore(), tls.trustStorePassword()).build();
        try (StandardErrorCapture log = new StandardErrorCapture()) {
            assertThatThrownBy(() -> new NatsTransport(settings).close())
                    .isInstanceOf(SluiceException.class)
                    .hasMessageContaining("could not connect to NATS at [" + tlsServer.url() + "] as user 'app'")
                    .hasMessageContaining("refused the credentials")
                    .hasMessageNotContaining("wrong");
            assertThat(log.text()).as("a first connect that fails is not an outage")
                    .doesNotContain("reconnecting").doesNotContain("closed for good");
        }
    }

    @Test
    void shouldRefuseServerCertificateNotSignedByTrustedCa() {
        // A trust store with many CAs but not the one that signed the server's certificate: the JDK's own.
        Path jdkCaCerts = Path.of(System.getProperty("java.home"), "lib", "security", "cacerts");
        NatsSettings settings = NatsSettings.builder().server(tlsServer.url()).userPassword("app", "correct horse")
                .trustStore(jdkCaCerts, "changeit")
                .connectTimeout(Duration.ofSeconds(2)).build();
        assertThatThrownBy(() -> new NatsTransport(settings).close())
                .isInstanceOf(SluiceException.class)
                .hasMessageContaining("could not connect to NATS at [" + tlsServer.url() + "] as user 'app': the TLS "
                        + "handshake failed (")
                .hasMessageContaining("PKIX path building failed")
                .hasMessageContaining("is the server's certificate signed by a CA in nats.tls.trustStore, and valid "
                        + "for the host?");

        // No trust store: the JVM's default CAs, which do not include the test CA either.
        NatsSettings defaults = NatsSettings.builder().server(tlsServer.url()).userPassword("app", "correct horse")
                .connectTimeout(Duration.ofSeconds(2)).build();
        assertThatThrownBy(() -> new NatsTransport(defaults).close())
                .isInstanceOf(SluiceException.class)
                .hasMessageContaining(": the TLS handshake failed (")
                .hasMessageContaining("(none is set, so the JVM's default CAs are used)");
    }

    @Test
    void shouldConnectWithTokenAndRefuseAWrongOne() {
        try (NatsTransport ok = new NatsTransport(NatsSettings.builder().server(tokenServer.url())
                .token("t0ken-s3cret").build())) {
            assertThat(ok.connectionState()).isEqualTo(NatsTransport.ConnectionState.CONNECTED);
            assertThat(ok.toString()).contains("token(****)").doesNotContain("t0ken-s3cret");
        }
        assertThatThrownBy(() -> new NatsTransport(NatsSettings.builder().server(tokenServer.url())
                .token("guess").connectTimeout(Duration.ofSeconds(1)).build()).close())
                .isInstanceOf(SluiceException.class)
                .hasMessageContaining("with a token")
                .hasMessageContaining("refused the credentials");
    }
}
