package io.sluice.config;

import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;

class DurationsTest {
    @Test
    void shouldParseEveryUnitAndIso() {
        assertThat(Durations.parse("k", "250ms")).isEqualTo(Duration.ofMillis(250));
        assertThat(Durations.parse("k", "5s")).isEqualTo(Duration.ofSeconds(5));
        assertThat(Durations.parse("k", "2m")).isEqualTo(Duration.ofMinutes(2));
        assertThat(Durations.parse("k", "1h")).isEqualTo(Duration.ofHours(1));
        assertThat(Durations.parse("k", "3d")).isEqualTo(Duration.ofDays(3));
        assertThat(Durations.parse("k", "750us")).isEqualTo(Duration.ofNanos(750_000));
        assertThat(Durations.parse("k", "PT1.5S")).isEqualTo(Duration.ofMillis(1500));
    }

    @Test
    void shouldFormatWithLargestExactUnit() {
        assertThat(Durations.format(Duration.ofMinutes(90))).isEqualTo("90m");
        assertThat(Durations.format(Duration.ofHours(2))).isEqualTo("2h");
        assertThat(Durations.format(Duration.ofMillis(1500))).isEqualTo("1500ms");
        assertThat(Durations.format(Duration.ZERO)).isEqualTo("0s");
    }
}
