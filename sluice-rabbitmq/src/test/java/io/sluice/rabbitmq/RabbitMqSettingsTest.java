package io.sluice.rabbitmq;

import io.sluice.config.ConfigException;
import io.sluice.config.ConfigSection;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class RabbitMqSettingsTest {
    private static RabbitMqSettings parse(Map<String, Object> values) {
        return RabbitMqSettings.from(new ConfigSection("rabbitmq", values));
    }

    @Test
    void shouldReadEveryKeyAndKeepThePasswordOutOfToString() {
        RabbitMqSettings s = parse(Map.of("uri", "amqp://app:hunter2@broker.example:5673/orders",
                "partitions", 6, "queueType", "classic", "maxPriority", 9, "prefetch", 50,
                "connectionTimeout", "3s", "recoveryInterval", "500ms",
                "publish", Map.of("maxPendingConfirms", 100),
                "group", Map.of("heartbeatInterval", "200ms", "sessionTimeout", "2s")));
        assertThat(s.host).isEqualTo("broker.example");
        assertThat(s.port).isEqualTo(5673);
        assertThat(s.vhost).isEqualTo("orders");
        assertThat(s.username).isEqualTo("app");
        assertThat(new String(s.password)).isEqualTo("hunter2");
        assertThat(s.partitions()).isEqualTo(6);
        assertThat(s.queueType()).isEqualTo(RabbitMqSettings.QueueType.CLASSIC);
        assertThat(s.maxPriority).isEqualTo(9);
        assertThat(s.toString()).contains("user=app").contains("password=****").doesNotContain("hunter2");
    }

    @Test
    void shouldTurnTlsOnForAmqpsAndDefaultItsPort() {
        RabbitMqSettings s = parse(Map.of("uri", "amqps://broker.example"));
        assertThat(s.tls).isTrue();
        assertThat(s.port).isEqualTo(5671);
    }

    @Test
    void shouldNameTheKeyAndTheValueOfAnInvalidSetting() {
        assertThatThrownBy(() -> parse(Map.of("partitions", 0)))
                .isInstanceOf(ConfigException.class)
                .hasMessage("Invalid value 0 for configuration rabbitmq.partitions: must be between 1 and 1024");
        assertThatThrownBy(() -> parse(Map.of("queueType", "stream")))
                .hasMessage("Invalid value 'stream' for configuration rabbitmq.queueType: must be one of quorum, "
                        + "classic");
        assertThatThrownBy(() -> parse(Map.of("maxPriority", 5)))
                .satisfies(e -> assertThat(((ConfigException) e).key()).isEqualTo("rabbitmq.maxPriority"))
                .hasMessageContaining("classic");
        assertThatThrownBy(() -> parse(Map.of("uri", "http://app:hunter2@host/")))
                .satisfies(e -> assertThat(((ConfigException) e).key()).isEqualTo("rabbitmq.uri"))
                .hasMessageNotContaining("hunter2");
        assertThatThrownBy(() -> parse(Map.of("group", Map.of("heartbeatInterval", "1s", "sessionTimeout", "2s"))))
                .satisfies(e -> assertThat(((ConfigException) e).key()).isEqualTo("rabbitmq.group.sessionTimeout"));
        assertThatThrownBy(() -> parse(Map.of("exchange", "x")))
                .satisfies(e -> assertThat(((ConfigException) e).key()).isEqualTo("rabbitmq.exchange"));
        assertThatThrownBy(() -> parse(Map.of("tls", Map.of("trustStore", "/no/such/file.p12"))))
                .satisfies(e -> assertThat(((ConfigException) e).key()).isEqualTo("rabbitmq.tls.trustStore"));
    }
}
