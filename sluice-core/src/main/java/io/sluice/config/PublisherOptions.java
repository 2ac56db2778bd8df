package io.sluice.config;

import java.time.Duration;
import java.util.Set;

/**
 * Settings of the publisher. Immutable and thread-safe; {@link Builder#build()} fails with {@link ConfigException}
 * naming the {@code publisher.*} key.
 *
 * <table>
 * <caption>Keys under {@code publisher}</caption>
 * <tr><td>maxPendingPublishes</td><td>unacknowledged publishes at most (default 10000)</td></tr>
 * <tr><td>publishTimeout</td><td>how long {@code publish} waits for room before failing (default 10s)</td></tr>
 * <tr><td>maxRetries</td><td>retries of a transient transport failure (default 5)</td></tr>
 * <tr><td>retryBackoff</td><td>first retry delay, doubled each time with full jitter (default 100ms)</td></tr>
 * <tr><td>retryMaxBackoff</td><td>largest retry delay (default 5s)</td></tr>
 * </table>
 */
public final class PublisherOptions {
    static final String PREFIX = "publisher.";
    private static final Set<String> KEYS = Set.of("maxPendingPublishes", "publishTimeout", "maxRetries",
            "retryBackoff", "retryMaxBackoff");

    private final int maxPendingPublishes;
    private final Duration publishTimeout;
    private final int maxRetries;
    private final Duration retryBackoff;
    private final Duration retryMaxBackoff;

    private PublisherOptions(Builder b) {
        this.maxPendingPublishes = b.maxPendingPublishes;
        this.publishTimeout = b.publishTimeout;
        this.maxRetries = b.maxRetries;
        this.retryBackoff = b.retryBackoff;
        this.retryMaxBackoff = b.retryMaxBackoff;
    }

    public static Builder builder() {
        return new Builder();
    }

    public static PublisherOptions defaults() {
        return builder().build();
    }

    public static PublisherOptions from(ConfigSection s) {
        PublisherOptions d = defaults();
        PublisherOptions o = builder()
                .maxPendingPublishes(s.integer("maxPendingPublishes", d.maxPendingPublishes))
                .publishTimeout(s.duration("publishTimeout", d.publishTimeout))
                .maxRetries(s.integer("maxRetries", d.maxRetries))
                .retryBackoff(s.duration("retryBackoff", d.retryBackoff))
                .retryMaxBackoff(s.duration("retryMaxBackoff", d.retryMaxBackoff))
                .build();
        s.rejectUnknownKeys(KEYS);
        return o;
    }

    public int maxPendingPublishes() {
        return maxPendingPublishes;
    }

    public Duration publishTimeout() {
        return publishTimeout;
    }

    public int maxRetries() {
        return maxRetries;
    }

    public Duration retryBackoff() {
        return retryBackoff;
    }

    public Duration retryMaxBackoff() {
        return retryMaxBackoff;
    }

    @Override
    public String toString() {
        return "PublisherOptions{maxPendingPublishes=" + maxPendingPublishes + ", publishTimeout="
                + Durations.format(publishTimeout) + ", maxRetries=" + maxRetries + ", retryBackoff="
                + Durations.format(retryBackoff) + ", retryMaxBackoff=" + Durations.format(retryMaxBackoff) + '}';
    }

    /** Builds {@link PublisherOptions}. Not thread-safe. */
    public static final class Builder {
        private int maxPendingPublishes = 10_000;
        private Duration publishTimeout = Duration.ofSeconds(10);
        private int maxRetries = 5;
        private Duration retryBackoff = Duration.ofMillis(100);
        private Duration retryMaxBackoff = Duration.ofSeconds(5);

        private Builder() {
        }

        public Builder maxPendingPublishes(int maxPendingPublishes) {
            this.maxPendingPublishes = maxPendingPublishes;
            return this;
        }

        public Builder publishTimeout(Duration publishTimeout) {
            this.publishTimeout = publishTimeout;
            return this;
        }

        public Builder maxRetries(int maxRetries) {
            this.maxRetries = maxRetries;
            return this;
        }

        public Builder retryBackoff(Duration retryBackoff) {
            this.retryBackoff = retryBackoff;
            return this;
        }

        public Builder retryMaxBackoff(Duration retryMaxBackoff) {
            this.retryMaxBackoff = retryMaxBackoff;
            return this;
        }

        public PublisherOptions build() {
            Checks.intBetween(PREFIX + "maxPendingPublishes", maxPendingPublishes, 1, 10_000_000);
            Checks.durationBetween(PREFIX + "publishTimeout", publishTimeout, Duration.ZERO, Duration.ofHours(1));
            Checks.intBetween(PREFIX + "maxRetries", maxRetries, 0, 1000);
            Checks.durationBetween(PREFIX + "retryBackoff", retryBackoff, Duration.ZERO, Duration.ofHours(1));
            Checks.durationBetween(PREFIX + "retryMaxBackoff", retryMaxBackoff, Duration.ZERO, Duration.ofHours(1));
            if (retryMaxBackoff.compareTo(retryBackoff) < 0) {
                throw new ConfigException(PREFIX + "retryMaxBackoff", Durations.format(retryMaxBackoff),
                        "must not be less than " + PREFIX + "retryBackoff (" + Durations.format(retryBackoff) + ")");
            }
            return new PublisherOptions(this);
        }
    }
}
