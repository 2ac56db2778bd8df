package io.sluice.config;

import org.junit.jupiter.api.Test;

import java.time.Duration;

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
                .hasMessageContaining("maxInFlight");
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
