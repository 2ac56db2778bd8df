package io.sluice.config;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ConfigValidationTest {

    @Test
    void shouldNameKeyValueAndAllowedRangeForBadBuilderValue() {
        assertThatThrownBy(() -> ConsumerOptions.builder().maxInFlight(-5).build())
                .isInstanceOf(ConfigException.class)
                .hasMessage("Invalid value -5 for configuration consumer.maxInFlight: must be between 1 and 1000000")
                .extracting(e -> ((ConfigException) e).key()).isEqualTo("consumer.maxInFlight");
    }

    @Test
    void shouldRejectMaxDelayBelowInitialDelay() {
        assertThatThrownBy(() -> RetryPolicy.builder().initialDelay(Duration.ofSeconds(2))
                .maxDelay(Duration.ofSeconds(1)).build())
                .hasMessage("Invalid value '1s' for configuration consumer.retry.maxDelay: must not be less than "
                        + "consumer.retry.initialDelay (2s)");
    }

    @Test
    void shouldRejectMultiplierBelowOne() {
        assertThatThrownBy(() -> RetryPolicy.builder().multiplier(0.5).build())
                .hasMessage("Invalid value 0.5 for configuration consumer.retry.multiplier: must be between 1.0 and 100.0");
    }

    @Test
    void shouldRejectUncommittedBoundBelowInFlight() {
        assertThatThrownBy(() -> ConsumerOptions.builder().maxInFlight(5000).maxUncommittedPerPartition(100).build())
                .hasMessage("Invalid value 100 for configuration consumer.maxUncommittedPerPartition: must not be less "
                        + "than consumer.maxInFlight (5000)");
    }

    @Test
    void shouldRejectPublisherRoomOfZero() {
        assertThatThrownBy(() -> PublisherOptions.builder().maxPendingPublishes(0).build())
                .hasMessage("Invalid value 0 for configuration publisher.maxPendingPublishes: must be between 1 and 10000000");
    }

    @Test
    void shouldBindYamlWithUnitsAndDefaults() {
        SluiceConfig config = SluiceConfig.parse("""
                transport: memory
                memory:
                  partitions: 6
                publisher:
                  publishTimeout: 250ms
                consumer:
                  maxInFlight: 64
                  maxInFlightBytes: 8MiB
                  handlerTimeout: PT2S
                  startFrom: latest
                  retry:
                    initialDelay: 50ms
                    maxDelay: 2m
                    maxAttempts: 7
                    nonRetryable: [java.lang.IllegalArgumentException]
                  deadLetter:
                    topic: all-dead-letters
                """, "test.yaml");
        assertThat(config.transport()).isEqualTo("memory");
        assertThat(config.transportSettings("memory").integer("partitions", 0)).isEqualTo(6);
        assertThat(config.publisher().publishTimeout()).isEqualTo(Duration.ofMillis(250));
        assertThat(config.publisher().maxPendingPublishes()).isEqualTo(10_000);
        ConsumerOptions c = config.consumer();
        assertThat(c.maxInFlight()).isEqualTo(64);
        assertThat(c.maxInFlightBytes()).isEqualTo(8L * 1024 * 1024);
        assertThat(c.handlerTimeout()).isEqualTo(Duration.ofSeconds(2));
        assertThat(c.startFrom()).isEqualTo(StartPosition.LATEST);
        assertThat(c.retry().maxDelay()).isEqualTo(Duration.ofMinutes(2));
        assertThat(c.retry().maxAttempts()).isEqualTo(7);
        assertThat(c.retry().isNonRetryable(new IllegalArgumentException())).isTrue();
        assertThat(c.retry().isNonRetryable(new IllegalStateException())).isFalse();
        assertThat(c.deadLetter().topicFor("orders")).isEqualTo("all-dead-letters");
        assertThat(c.commitInterval()).isEqualTo(Duration.ofSeconds(1));
    }

    @Test
    void shouldRejectMisspeltKeyNamingKnownOnes() {
        assertThatThrownBy(() -> SluiceConfig.parse("consumer:\n  maxInflight: 10\n", "test.yaml"))
                .isInstanceOf(ConfigException.class)
                .hasMessageStartingWith("Unknown configuration key consumer.maxInflight; known keys here: ")
                .hasMessageContaining("maxInFlight")
                .hasMessageEndingWith("; value given: 10");
    }

    @Test
    void shouldRejectAnUnknownTopLevelSectionNamingItAndTheKnownOnes() {
        assertThatThrownBy(() -> SluiceConfig.parse("transport: memory\nconsumers:\n  maxInFlight: 10\n", "test.yaml"))
                .isInstanceOf(ConfigException.class)
                .hasMessage("Unknown configuration key consumers; known top-level keys: consumer, publisher, transport, "
                        + "and the settings section of a transport: kafka, log, memory, nats, rabbitmq, redis; value "
                        + "given: a section with keys [maxInFlight]")
                .extracting(e -> ((ConfigException) e).key()).isEqualTo("consumers");
        assertThatThrownBy(() -> SluiceConfig.parse("transport: memory\nretries: 3\n", "test.yaml"))
                .hasMessageStartingWith("Unknown configuration key retries; known top-level keys: ")
                .hasMessageEndingWith("; value given: 3");
    }

    @Test
    void shouldAcceptSectionsOfTransportsOnTheClassPathAndOfTheSelectedOne() {
        SluiceConfig config = SluiceConfig.parse("transport: kafka\nkafka:\n  bootstrapServers: b:9092\n"
                + "memory:\n  partitions: 2\n", "test.yaml");
        assertThat(config.transportSectionNames()).containsExactlyInAnyOrder("kafka", "memory");
        assertThatThrownBy(() -> SluiceConfig.parse("transport: memory\nkafak:\n  bootstrapServers: b:9092\n", "x"))
                .as("a section of no transport Sluice knows is most likely a mistake")
                .hasMessageStartingWith("Unknown configuration key kafak; ")
                .extracting(e -> ((ConfigException) e).key()).isEqualTo("kafak");
    }

    @Test
    void shouldAcceptSectionsOfFirstPartyTransportsWhoseModuleIsNotOnTheClassPath() {
        // One sluice.yaml shared by deployments that each ship one transport jar (core's tests have none but memory).
        SluiceConfig config = SluiceConfig.parse("transport: memory\nkafka:\n  bootstrapServers: b:9092\n"
                + "nats:\n  servers: nats://n:4222\nrabbitmq:\n  uri: amqp://r\nredis:\n  uri: redis://r\n", "x");
        assertThat(config.transportSectionNames()).containsExactlyInAnyOrder("kafka", "nats", "rabbitmq", "redis");
    }

    @Test
    void shouldNotEchoTheValueOfAnUnknownKeyThatLooksLikeASecret() {
        ConfigSection security = new ConfigSection("kafka.security", java.util.Map.of("trustStorPassword", "hunter2"));
        assertThatThrownBy(() -> security.rejectUnknownKeys(java.util.Set.of("trustStorePassword")))
                .hasMessage("Unknown configuration key kafka.security.trustStorPassword; known keys here: "
                        + "trustStorePassword; value given: (hidden: the key looks like a secret)");
    }

    @Test
    void shouldNotEchoTheValueOfAnUnknownKeyThatIsAMisspeltOrOtherwiseNamedSecret() {
        for (String key : List.of("passwd", "pwd", "apiKey", "sasl.jaas.config", "authToken", "sslCert",
                "clientSecret")) {
            ConfigSection section = new ConfigSection("kafka", Map.of(key, "hunter2"));
            assertThatThrownBy(() -> section.rejectUnknownKeys(Set.of("bootstrapServers")))
                    .as(key).hasMessageEndingWith("; value given: (hidden: the key looks like a secret)")
                    .message().doesNotContain("hunter2");
        }
        ConfigSection misspelt = new ConfigSection("kafka.security", Map.of("pasword", "hunter2"));
        assertThatThrownBy(() -> misspelt.rejectUnknownKeys(Set.of("password", "username")))
                .hasMessageEndingWith("; value given: (hidden: the key looks like a misspelt password)");
        ConfigSection harmless = new ConfigSection("consumer", Map.of("maxInflight", 10));
        assertThatThrownBy(() -> harmless.rejectUnknownKeys(Set.of("maxInFlight", "password")))
                .as("a key close to no secret is still echoed").hasMessageEndingWith("; value given: 10");
    }

    @Test
    void shouldBindUnlimitedAttemptsAndRejectOtherWords() {
        RetryPolicy forever = SluiceConfig.parse("consumer:\n  retry:\n    maxAttempts: unlimited\n", "x")
                .consumer().retry();
        assertThat(forever.isUnlimited()).isTrue();
        assertThat(forever.maxAttempts()).isEqualTo(RetryPolicy.UNLIMITED);
        assertThat(forever.exhausted(1_000_000)).isFalse();
        assertThat(forever.toString()).contains("maxAttempts=unlimited");
        assertThat(RetryPolicy.builder().retryForever().build().isUnlimited()).isTrue();
        assertThat(RetryPolicy.builder().maxAttempts(3).build().exhausted(3)).isTrue();
        assertThatThrownBy(() -> SluiceConfig.parse("consumer:\n  retry:\n    maxAttempts: forever\n", "x"))
                .hasMessage("Invalid value 'forever' for configuration consumer.retry.maxAttempts: must be a whole "
                        + "number between 1 and 1000, or unlimited");
        assertThatThrownBy(() -> RetryPolicy.builder().maxAttempts(1001).build())
                .hasMessage("Invalid value 1001 for configuration consumer.retry.maxAttempts: must be between 1 and "
                        + "1000, or unlimited");
    }

    @Test
    void shouldRejectDurationWithoutUnit() {
        assertThatThrownBy(() -> SluiceConfig.parse("consumer:\n  handlerTimeout: 30\n", "test.yaml"))
                .hasMessage("Invalid value 30 for configuration consumer.handlerTimeout: must be a duration with a "
                        + "unit, such as 250ms, 5s, 2m, 1h or PT5S");
    }

    @Test
    void shouldRejectBadSizeAndBadEnum() {
        assertThatThrownBy(() -> SluiceConfig.parse("consumer:\n  maxInFlightBytes: lots\n", "test.yaml"))
                .hasMessage("Invalid value 'lots' for configuration consumer.maxInFlightBytes: must be a size in bytes, "
                        + "such as 1048576, 512KiB, 64MiB or 1GB");
        assertThatThrownBy(() -> SluiceConfig.parse("consumer:\n  startFrom: middle\n", "test.yaml"))
                .hasMessage("Invalid value 'middle' for configuration consumer.startFrom: must be one of earliest, latest");
    }

    @Test
    void shouldRejectUnknownExceptionClass() {
        assertThatThrownBy(() -> SluiceConfig.parse("consumer:\n  retry:\n    nonRetryable: [com.example.Nope]\n", "x"))
                .hasMessage("Invalid value 'com.example.Nope' for configuration consumer.retry.nonRetryable: must name "
                        + "an exception class on the class path");
    }

    @Test
    void shouldReportInvalidYamlWithLine() {
        assertThatThrownBy(() -> SluiceConfig.parse("consumer:\n  maxInFlight: [1,\n", "broken.yaml"))
                .isInstanceOf(ConfigException.class)
                .hasMessageStartingWith("Configuration broken.yaml is not valid YAML");
    }

    @Test
    void shouldRejectScalarWhereSectionExpected() {
        assertThatThrownBy(() -> SluiceConfig.parse("consumer: 5\n", "x"))
                .hasMessage("Invalid value 5 for configuration consumer: must be a section of keys");
    }

    @Test
    void shouldDefaultToTheEmbeddedLogAndSayWhereItLives() {
        SluiceConfig config = SluiceConfig.parse("consumer:\n  maxInFlight: 10\n", "x");
        assertThat(config.transport()).isEqualTo("log");
        assertThatThrownBy(() -> io.sluice.Sluice.create(config))
                .hasMessage("Invalid value 'log' for configuration transport: no such transport on the class path; "
                        + "available: memory (the default transport 'log' is in module io.sluice:sluice-log: add it, "
                        + "or set transport: memory)");
    }
}
