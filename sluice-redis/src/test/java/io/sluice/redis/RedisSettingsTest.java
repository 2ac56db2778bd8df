package io.sluice.redis;

import io.sluice.config.ConfigException;
import io.sluice.config.ConfigSection;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class RedisSettingsTest {

    private static RedisSettings parse(Map<String, Object> values) {
        return RedisSettings.from(new ConfigSection("redis", values));
    }

    @Test
    void shouldReadEveryKeyAndKeepThePasswordOutOfToString() {
        RedisSettings s = parse(Map.ofEntries(Map.entry("uri", "rediss://cache.example:6380/3"),
                Map.entry("user", "app"), Map.entry("password", "hunter2"), Map.entry("partitions", 8),
                Map.entry("keyPrefix", "app:"), Map.entry("maxLen", 100_000), Map.entry("claimIdle", "45s"),
                Map.entry("sessionTimeout", "6s"), Map.entry("heartbeatInterval", "500ms"),
                Map.entry("blockTime", "50ms"), Map.entry("commandTimeout", "3s")));
        assertThat(s.host()).isEqualTo("cache.example");
        assertThat(s.port()).isEqualTo(6380);
        assertThat(s.database()).isEqualTo(3);
        assertThat(s.tls()).isTrue();
        assertThat(s.user()).isEqualTo("app");
        assertThat(s.partitions()).isEqualTo(8);
        assertThat(s.keyPrefix()).isEqualTo("app:");
        assertThat(s.maxLen()).isEqualTo(100_000);
        assertThat(s.claimIdle()).isEqualTo(Duration.ofSeconds(45));
        assertThat(s.sessionTimeout()).isEqualTo(Duration.ofSeconds(6));
        assertThat(s.heartbeatInterval()).isEqualTo(Duration.ofMillis(500));
        assertThat(s.blockTime()).isEqualTo(Duration.ofMillis(50));
        assertThat(s.commandTimeout()).isEqualTo(Duration.ofSeconds(3));
        assertThat(s.toString()).contains("rediss://cache.example:6380/3").contains("app(****)")
                .doesNotContain("hunter2");
    }

    @Test
    void shouldUseHostAndPortWhenThereIsNoUri() {
        RedisSettings s = parse(Map.of("host", "10.0.0.5", "port", 7000, "database", 2));
        assertThat(s.toString()).startsWith("RedisSettings{redis://10.0.0.5:7000/2, auth=none");
    }

    @Test
    void shouldNameTheKeyEchoTheValueAndSayWhatIsAllowed() {
        assertThatThrownBy(() -> parse(Map.of("partitions", 0)))
                .isInstanceOf(ConfigException.class)
                .hasMessage("Invalid value 0 for configuration redis.partitions: must be between 1 and 4096");
        assertThatThrownBy(() -> parse(Map.of("uri", "http://127.0.0.1:6379")))
                .hasMessage("Invalid value 'http://127.0.0.1:6379' for configuration redis.uri: must be a URI such "
                        + "as redis://127.0.0.1:6379/0 or rediss://...");
        assertThatThrownBy(() -> parse(Map.of("uri", "redis://127.0.0.1:6379/zero")))
                .hasMessage("Invalid value 'redis://127.0.0.1:6379/zero' for configuration redis.uri: the path must "
                        + "be a database number, such as /0");
        assertThatThrownBy(() -> parse(Map.of("maxLen", -1)))
                .hasMessageStartingWith("Invalid value -1 for configuration redis.maxLen: must be between 0 and");
        assertThatThrownBy(() -> parse(Map.of("claimIdle", "soon")))
                .satisfies(e -> assertThat(((ConfigException) e).key()).isEqualTo("redis.claimIdle"));
        assertThatThrownBy(() -> parse(Map.of("port", 70000)))
                .hasMessage("Invalid value 70000 for configuration redis.port: must be between 1 and 65535");
        assertThatThrownBy(() -> parse(Map.of("user", "app")))
                .hasMessage("Invalid value 'app' for configuration redis.user: needs redis.password");
        assertThatThrownBy(() -> parse(Map.of("maxLen", 1000, "maxAge", "1h")))
                .hasMessage("Invalid value '1h' for configuration redis.maxAge: cannot be combined with redis.maxLen "
                        + "(1000): XADD trims by one of them");
        assertThatThrownBy(() -> parse(Map.of("tlsCaFile", "/no/such/ca.pem")))
                .hasMessage("Invalid value '/no/such/ca.pem' for configuration redis.tlsCaFile: must be a readable "
                        + "PEM file");
        assertThatThrownBy(() -> parse(Map.of("partitions", 4, "definitelyNotASetting", 1)))
                .hasMessageStartingWith("Unknown configuration key redis.definitelyNotASetting");
    }

    @Test
    void shouldRefuseCredentialsInTheUriWithoutEchoingThem() {
        assertThatThrownBy(() -> parse(Map.of("uri", "redis://app:hunter2@127.0.0.1:6379")))
                .isInstanceOf(ConfigException.class)
                .hasMessage("Invalid value '(a URI with credentials)' for configuration redis.uri: must not hold "
                        + "credentials; use redis.user and redis.password")
                .hasMessageNotContaining("hunter2");
    }
}
