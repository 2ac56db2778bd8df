package io.sluice.config;

import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;

class RetryPolicyTest {
    private final RetryPolicy policy = RetryPolicy.builder().initialDelay(Duration.ofMillis(100)).multiplier(3)
            .maxDelay(Duration.ofSeconds(2)).maxAttempts(6).build();

    @Test
    void shouldGrowCeilingByMultiplierUntilMaxDelay() {
        assertThat(policy.delayCeilingNanos(1)).isEqualTo(100_000_000L);
        assertThat(policy.delayCeilingNanos(2)).isEqualTo(300_000_000L);
        assertThat(policy.delayCeilingNanos(3)).isEqualTo(900_000_000L);
        assertThat(policy.delayCeilingNanos(4)).isEqualTo(2_000_000_000L);
        assertThat(policy.delayCeilingNanos(50)).isEqualTo(2_000_000_000L);
    }

    @RepeatedTest(20)
    void shouldJitterWithinZeroAndCeiling() {
        for (int failures = 1; failures <= 6; failures++) {
            assertThat(policy.delayNanos(failures)).isBetween(0L, policy.delayCeilingNanos(failures));
        }
    }

    @Test
    void shouldSpreadDelaysAcrossTheWholeRange() {
        long min = Long.MAX_VALUE;
        long max = 0;
        for (int i = 0; i < 2000; i++) {
            long d = policy.delayNanos(2);
            min = Math.min(min, d);
            max = Math.max(max, d);
        }
        assertThat(min).isLessThan(30_000_000L);
        assertThat(max).isGreaterThan(270_000_000L);
    }
}
