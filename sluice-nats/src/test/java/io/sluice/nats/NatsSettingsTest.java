package io.sluice.nats;

import io.sluice.config.ConfigException;
import io.sluice.config.ConfigSection;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class NatsSettingsTest {

    private static NatsSettings parse(Map<String, Object> values) {
        return NatsSettings.from(new ConfigSection("nats", values));
    }

    @Test
    void shouldReadEveryKeyAndKeepSecretsOutOfToString() {
        NatsSettings s = parse(Map.of("servers", List.of("nats://127.0.0.1:4222", "nats://127.0.0.1:4223"),
                "mode", "jetstream", "user", "app", "password", "hunter2",
                "reconnect", Map.of("maxReconnects", 10, "wait", "500ms", "jitter", "50ms", "bufferSize", "1MiB"),
                "stream", Map.of("partitions", 6, "storage", "memory", "retention", "interest", "maxAge", "1h",
                        "maxBytes", "1GiB", "duplicateWindow", "5m"),
                "consumer", Map.of("ackWait", "10s", "maxAckPending", 500, "pullExpiry", "2s", "maxBatch", 100),
                "group", Map.of("heartbeatInterval", "500ms", "sessionTimeout", "5s"),
                "publish", Map.of("maxPendingAcks", 100, "ackTimeout", "3s")));
        assertThat(s.servers()).hasSize(2);
        assertThat(s.partitions()).isEqualTo(6);
        assertThat(s.reconnectBufferBytes).isEqualTo(1024 * 1024);
        assertThat(s.maxBytes).isEqualTo(1024L * 1024 * 1024);
        assertThat(s.toString()).contains("user(app, ****)").doesNotContain("hunter2");
    }

    @Test
    void shouldNameTheKeyEchoTheValueAndSayWhatIsAllowed() {
        assertThatThrownBy(() -> parse(Map.of("mode", "durable")))
                .isInstanceOf(ConfigException.class)
                .hasMessage("Invalid value 'durable' for configuration nats.mode: must be one of jetstream, core");
        assertThatThrownBy(() -> parse(Map.of("stream", Map.of("partitions", 0))))
                .hasMessage("Invalid value 0 for configuration nats.stream.partitions: must be between 1 and 1024");
        assertThatThrownBy(() -> parse(Map.of("servers", List.of("127.0.0.1:4222"))))
                .hasMessageStartingWith("Invalid value '127.0.0.1:4222' for configuration nats.servers: must be a "
                        + "list of server URLs");
        assertThatThrownBy(() -> parse(Map.of("reconnect", Map.of("wait", "soon"))))
                .satisfies(e -> assertThat(((ConfigException) e).key()).isEqualTo("nats.reconnect.wait"));
        assertThatThrownBy(() -> parse(Map.of("stream", Map.of("storage", "tape"))))
                .hasMessage("Invalid value 'tape' for configuration nats.stream.storage: must be one of file, memory");
        assertThatThrownBy(() -> parse(Map.of("group", Map.of("heartbeatInterval", "2s", "sessionTimeout", "3s"))))
                .hasMessageContaining("nats.group.sessionTimeout")
                .hasMessageContaining("at least three heartbeat intervals");
        assertThatThrownBy(() -> parse(Map.of("user", "app")))
                .satisfies(e -> assertThat(((ConfigException) e).key()).isEqualTo("nats.password"));
        assertThatThrownBy(() -> parse(Map.of("token", "abc", "user", "app", "password", "x")))
                .satisfies(e -> assertThat(((ConfigException) e).key()).isEqualTo("nats.token"))
                .hasMessageNotContaining("abc");
        assertThatThrownBy(() -> parse(Map.of("tls", Map.of("trustStore", "/no/such/file.p12"))))
                .hasMessage("Invalid value '/no/such/file.p12' for configuration nats.tls.trustStore: must be a "
                        + "readable file");
        assertThatThrownBy(() -> parse(Map.of("consumer", Map.of("maxBatchSize", 10))))
                .hasMessageStartingWith("Unknown configuration key nats.consumer.maxBatchSize");
    }

    @Test
    void shouldRejectCredentialsInServerUrlsWithoutEchoingThem() {
        assertThatThrownBy(() -> parse(Map.of("servers", List.of("nats://app:hunter2@127.0.0.1:4222"))))
                .isInstanceOf(ConfigException.class)
                .hasMessage("Invalid value 'nats://***@127.0.0.1:4222' for configuration nats.servers: must not carry "
                        + "credentials; set nats.user and nats.password, or nats.token, which are kept out of logs")
                .hasMessageNotContaining("hunter2");
        assertThatThrownBy(() -> NatsSettings.builder().server("tls://s3cr3t-token@nats.internal:4222").build())
                .isInstanceOf(ConfigException.class)
                .hasMessageNotContaining("s3cr3t-token")
                .satisfies(e -> assertThat(((ConfigException) e).key()).isEqualTo("nats.servers"));
        assertThat(NatsSettings.redacted("nats://u:p@h:1/x@y")).isEqualTo("nats://***@h:1/x@y");
        assertThat(NatsSettings.redacted("nats://h:1")).isEqualTo("nats://h:1");
    }

    @Test
    void shouldRejectOpenTlsWhichSkipsServerCertificateChecks() {
        assertThatThrownBy(() -> parse(Map.of("servers", List.of("opentls://127.0.0.1:4222"))))
                .isInstanceOf(ConfigException.class)
                .hasMessage("Invalid value 'opentls://127.0.0.1:4222' for configuration nats.servers: opentls:// "
                        + "connects without checking the server's certificate; use tls:// and trust the server's CA "
                        + "with nats.tls.trustStore");
    }

    @Test
    void shouldValidateEveryValueAndTheirRelationsWhenBuildingInCode() {
        assertThatThrownBy(() -> NatsSettings.builder().partitions(0).build())
                .hasMessage("Invalid value 0 for configuration nats.stream.partitions: must be between 1 and 1024");
        assertThatThrownBy(() -> NatsSettings.builder().ackWait(Duration.ofMillis(10)).build())
                .hasMessage("Invalid value '10ms' for configuration nats.consumer.ackWait: must be between 1s and 12h");
        assertThatThrownBy(() -> NatsSettings.builder().publish(0, Duration.ofSeconds(1)).build())
                .satisfies(e -> assertThat(((ConfigException) e).key()).isEqualTo("nats.publish.maxPendingAcks"));
        assertThatThrownBy(() -> NatsSettings.builder().mode("fire-and-forget").build())
                .hasMessage("Invalid value 'fire-and-forget' for configuration nats.mode: must be one of jetstream, "
                        + "core");
        assertThatThrownBy(() -> NatsSettings.builder().groupBucket("my.bucket").build())
                .hasMessage("Invalid value 'my.bucket' for configuration nats.group.bucket: must be letters, digits, "
                        + "'_' or '-'");
        assertThatThrownBy(() -> NatsSettings.builder().coreBuffer(10, 10).build())
                .hasMessage("Invalid value 10 for configuration nats.core.maxBufferedBytes: must be between 1024 and "
                        + "1099511627776");
    }

    @Test
    void shouldRequireMaxAckPendingToCoverOnePullBatch() {
        assertThatThrownBy(() -> parse(Map.of("consumer", Map.of("maxAckPending", 100, "maxBatch", 256))))
                .isInstanceOf(ConfigException.class)
                .hasMessage("Invalid value 100 for configuration nats.consumer.maxAckPending: must be 0 (follow the "
                        + "in-flight bound) or at least nats.consumer.maxBatch=256");
        assertThat(parse(Map.of("consumer", Map.of("maxAckPending", 100, "maxBatch", 100))).maxAckPending)
                .isEqualTo(100);
    }

    @Test
    void shouldRequireASessionLongEnoughForAPullToExpireBeforeOthersTakeOver() {
        assertThatThrownBy(() -> parse(Map.of("consumer", Map.of("pullExpiry", "5s"),
                "group", Map.of("heartbeatInterval", "1s", "sessionTimeout", "6s"))))
                .isInstanceOf(ConfigException.class)
                .hasMessage("Invalid value '6s' for configuration nats.group.sessionTimeout: must be longer than "
                        + "nats.consumer.pullExpiry (5s) plus two heartbeat intervals (1s)");
        assertThat(parse(Map.of("consumer", Map.of("pullExpiry", "5s"),
                "group", Map.of("heartbeatInterval", "1s", "sessionTimeout", "8s"))).sessionTimeout)
                .isEqualTo(Duration.ofSeconds(8));
    }

    @Test
    void shouldReadTheCoreByteBound() {
        NatsSettings s = parse(Map.of("core", Map.of("maxBufferedMessages", 10, "maxBufferedBytes", "2MiB")));
        assertThat(s.coreMaxBuffered).isEqualTo(10);
        assertThat(s.coreMaxBufferedBytes).isEqualTo(2L * 1024 * 1024);
        assertThat(s.toString()).contains("maxBufferedBytes=2097152");
    }
}
