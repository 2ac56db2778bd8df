package io.sluice.nats;

import io.sluice.config.ConfigException;
import io.sluice.config.ConfigSection;
import org.junit.jupiter.api.Test;

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
}
