package io.sluice.kafka;

import io.sluice.config.Durations;

import java.time.Duration;
import java.util.List;

/**
 * The delay tiers of native delayed redelivery: one retry topic per delay, named {@code <topic>.retry.<delay>}
 * ({@code orders.retry.5s}, {@code orders.retry.1m}). A message handed off with delay {@code d} goes to the smallest
 * tier of at least {@code d} (the largest tier when none is long enough) and is delivered again once that tier's
 * delay has passed since the hand-off: every record of one tier waits the same time, so each tier partition is
 * due in offset order and a consumer only ever waits for its head.
 *
 * <p>Immutable and thread-safe.
 */
public final class DelayTiers {
    /** No tiers: native delayed redelivery is off. */
    public static final DelayTiers NONE = new DelayTiers(List.of());

    private final List<Duration> delays;

    /** Tiers with these delays, strictly increasing. */
    public DelayTiers(List<Duration> delays) {
        for (int i = 1; i < delays.size(); i++) {
            if (delays.get(i).compareTo(delays.get(i - 1)) <= 0) {
                throw new IllegalArgumentException("delay tiers must increase: " + delays);
            }
        }
        this.delays = List.copyOf(delays);
    }

    public boolean isEmpty() {
        return delays.isEmpty();
    }

    public int size() {
        return delays.size();
    }

    public Duration delay(int tier) {
        return delays.get(tier);
    }

    /** The tier a delay of {@code delayNanos} goes to. */
    public int tierFor(long delayNanos) {
        for (int i = 0; i < delays.size(); i++) {
            if (delays.get(i).toNanos() >= delayNanos) {
                return i;
            }
        }
        return delays.size() - 1;
    }

    /** The retry topic of {@code tier} for {@code topic}. */
    public String topic(String topic, int tier) {
        return topic + ".retry." + Durations.format(delays.get(tier));
    }

    @Override
    public String toString() {
        return delays.stream().map(Durations::format).toList().toString();
    }
}
