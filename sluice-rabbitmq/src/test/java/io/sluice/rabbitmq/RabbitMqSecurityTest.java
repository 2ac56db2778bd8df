package io.sluice.rabbitmq;

import io.sluice.Message;
import io.sluice.Sluice;
import io.sluice.SluiceException;
import io.sluice.brokers.nats.TlsMaterial;
import io.sluice.brokers.rabbitmq.RabbitMqServer;
import io.sluice.config.SluiceConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * TLS, username/password and a vhost against a TLS-enabled broker of its own (a CA and server certificate made with
 * keytool): the transport trusts only that CA, logs in to its vhost, and never shows the password.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class RabbitMqSecurityTest {
    @TempDir
    Path dir;

    @Test
    void shouldPublishAndConsumeOverTlsWithCredentialsOnAVhostAndKeepThePasswordSecret() {
        TlsMaterial tls = TlsMaterial.generate(dir.resolve("tls"));
        try (RabbitMqServer server = RabbitMqServer.builder().userPassword("sluice", "s3cret-pw")
                .tls(tls.serverCertificate(), tls.serverKey()).start()) {
            server.rabbitmqctl("add_vhost", "orders");
            server.rabbitmqctl("set_permissions", "-p", "orders", "sluice", ".*", ".*", ".*");
            RabbitMqSettings settings = RabbitMqSettings.builder()
                    .uri("amqps://sluice:s3cret-pw@127.0.0.1:" + server.tlsPort() + "/orders")
                    .tls(tls.trustStore(), tls.trustStorePassword())
                    .group(Duration.ofMillis(100), Duration.ofMillis(1500)).build();
            assertThat(settings.toString()).contains("amqps://127.0.0.1:" + server.tlsPort())
                    .contains("vhost=orders").doesNotContain("s3cret-pw");

            try (Sluice sluice = Sluice.create(new RabbitMqTransport(settings), SluiceConfig.of("rabbitmq"))) {
                List<String> got = new CopyOnWriteArrayList<>();
                sluice.subscribe("secure", "g", m -> got.add(m.payloadAsString()));
                sluice.publisher().publish("secure", Message.of("k", "over tls")).join();
                await().atMost(Duration.ofSeconds(60)).until(() -> got.size() == 1);
                assertThat(got).containsExactly("over tls");
            }
            assertThat(server.rabbitmqctl("list_queues", "-p", "orders", "name"))
                    .as("the topic lives in vhost orders").contains("sluice.secure.g.g.0");

            RabbitMqSettings wrongPassword = RabbitMqSettings.builder()
                    .uri("amqps://sluice:not-the-pw@127.0.0.1:" + server.tlsPort() + "/orders")
                    .tls(tls.trustStore(), tls.trustStorePassword()).build();
            assertThatThrownBy(() -> new RabbitMqTransport(wrongPassword)).isInstanceOf(SluiceException.class)
                    .hasMessageContaining("could not connect").hasMessageNotContaining("not-the-pw");

            RabbitMqSettings untrusted = RabbitMqSettings.builder()
                    .uri("amqps://sluice:s3cret-pw@127.0.0.1:" + server.tlsPort() + "/orders").tls(null, null)
                    .build();
            assertThatThrownBy(() -> new RabbitMqTransport(untrusted)).as("a CA the JDK does not trust")
                    .isInstanceOf(SluiceException.class).hasMessageNotContaining("s3cret-pw");
        }
    }
}
