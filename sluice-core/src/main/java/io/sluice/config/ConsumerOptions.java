package io.sluice.config;

import io.sluice.Middleware;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Settings of one subscription's consumer engine. Immutable and thread-safe; {@link Builder#build()} validates
 * every value and fails with {@link ConfigException} naming the {@code consumer.*} key.
 *
 * <table>
 * <caption>Keys under {@code consumer}</caption>
 * <tr><td>maxInFlight</td><td>messages fetched and not finished, at most (default 1000)</td></tr>
 * <tr><td>maxInFlightBytes</td><td>their estimated bytes, at most (default 64MiB; one larger message is still
 * admitted when nothing else is in flight)</td></tr>
 * <tr><td>handlerTimeout</td><td>an attempt running longer is interrupted and failed (default 30s)</td></tr>
 * <tr><td>commitInterval</td><td>how often finished positions are committed (default 1s)</td></tr>
 * <tr><td>shutdownTimeout</td><td>how long close waits for running handlers (default 30s)</td></tr>
 * <tr><td>startFrom</td><td>earliest or latest, for a group with no committed position (default earliest)</td></tr>
 * <tr><td>maxUncommittedPerPartition</td><td>offsets tracked above a partition's commit watermark before fetching
 * pauses (default 1048576); only the saturated partition pauses, the others keep flowing</td></tr>
 * <tr><td>stallWarning</td><td>a partition whose commit watermark has not moved for this long while a message at
 * it is unfinished is reported stalled: a WARN naming topic, partition and offset,
 * {@link io.sluice.SubscriptionStats#stalledPartitions()}, and the meter {@code sluice.consumer.stalled}
 * (default 1m)</td></tr>
 * <tr><td>retry.*</td><td>{@link RetryPolicy}</td></tr>
 * <tr><td>deadLetter.*</td><td>{@link DeadLetterPolicy}</td></tr>
 * </table>
 */
public final class ConsumerOptions {
    static final String PREFIX = "consumer.";
    private static final Set<String> KEYS = Set.of("maxInFlight", "maxInFlightBytes", "handlerTimeout",
            "commitInterval", "shutdownTimeout", "startFrom", "maxUncommittedPerPartition", "retry", "deadLetter",
            "stallWarning");

    private final int maxInFlight;
    private final long maxInFlightBytes;
    private final Duration handlerTimeout;
    private final Duration commitInterval;
    private final Duration shutdownTimeout;
    private final StartPosition startFrom;
    private final int maxUncommittedPerPartition;
    private final Duration stallWarning;
    private final RetryPolicy retry;
    private final DeadLetterPolicy deadLetter;
    private final List<Middleware> middleware;

    private ConsumerOptions(Builder b) {
        this.maxInFlight = b.maxInFlight;
        this.maxInFlightBytes = b.maxInFlightBytes;
        this.handlerTimeout = b.handlerTimeout;
        this.commitInterval = b.commitInterval;
        this.shutdownTimeout = b.shutdownTimeout;
        this.startFrom = b.startFrom;
        this.maxUncommittedPerPartition = b.maxUncommittedPerPartition;
        this.stallWarning = b.stallWarning;
        this.retry = b.retry;
        this.deadLetter = b.deadLetter;
        this.middleware = List.copyOf(b.middleware);
    }

    public static Builder builder() {
        return new Builder();
    }

    public static ConsumerOptions defaults() {
        return builder().build();
    }

    /** Binds the {@code consumer} section; absent keys keep their defaults, unknown keys fail. */
    public static ConsumerOptions from(ConfigSection s) {
        ConsumerOptions d = defaults();
        Builder b = builder()
                .maxInFlight(s.integer("maxInFlight", d.maxInFlight))
                .maxInFlightBytes(s.bytes("maxInFlightBytes", d.maxInFlightBytes))
                .handlerTimeout(s.duration("handlerTimeout", d.handlerTimeout))
                .commitInterval(s.duration("commitInterval", d.commitInterval))
                .shutdownTimeout(s.duration("shutdownTimeout", d.shutdownTimeout))
                .maxUncommittedPerPartition(s.integer("maxUncommittedPerPartition", d.maxUncommittedPerPartition))
                .stallWarning(s.duration("stallWarning", d.stallWarning))
                .retry(RetryPolicy.from(s.section("retry")))
                .deadLetter(DeadLetterPolicy.from(s.section("deadLetter")));
        String start = s.string("startFrom", null);
        if (start != null) {
            b.startFrom(Checks.enumValue(s.key("startFrom"), StartPosition.class, start));
        }
        s.rejectUnknownKeys(KEYS);
        return b.build();
    }

    public int maxInFlight() {
        return maxInFlight;
    }

    public long maxInFlightBytes() {
        return maxInFlightBytes;
    }

    public Duration handlerTimeout() {
        return handlerTimeout;
    }

    public Duration commitInterval() {
        return commitInterval;
    }

    public Duration shutdownTimeout() {
        return shutdownTimeout;
    }

    public StartPosition startFrom() {
        return startFrom;
    }

    public int maxUncommittedPerPartition() {
        return maxUncommittedPerPartition;
    }

    /** How long a partition's watermark may stand still on an unfinished message before it is reported stalled. */
    public Duration stallWarning() {
        return stallWarning;
    }

    public RetryPolicy retry() {
        return retry;
    }

    public DeadLetterPolicy deadLetter() {
        return deadLetter;
    }

    /** Middleware around the handler, first one outermost. */
    public List<Middleware> middleware() {
        return middleware;
    }

    /** A builder starting from these options. */
    public Builder toBuilder() {
        Builder b = builder().maxInFlight(maxInFlight).maxInFlightBytes(maxInFlightBytes)
                .handlerTimeout(handlerTimeout).commitInterval(commitInterval).shutdownTimeout(shutdownTimeout)
                .startFrom(startFrom).maxUncommittedPerPartition(maxUncommittedPerPartition).retry(retry)
                .stallWarning(stallWarning)
                .deadLetter(deadLetter);
        middleware.forEach(b::middleware);
        return b;
    }

    @Override
    public String toString() {
        return "ConsumerOptions{maxInFlight=" + maxInFlight + ", maxInFlightBytes=" + maxInFlightBytes
                + ", handlerTimeout=" + Durations.format(handlerTimeout) + ", commitInterval="
                + Durations.format(commitInterval) + ", shutdownTimeout=" + Durations.format(shutdownTimeout)
                + ", startFrom=" + startFrom + ", maxUncommittedPerPartition=" + maxUncommittedPerPartition
                + ", stallWarning=" + Durations.format(stallWarning)
                + ", retry=" + retry + ", deadLetter=" + deadLetter + ", middleware=" + middleware.size() + '}';
    }

    /** Builds {@link ConsumerOptions}. Not thread-safe. */
    public static final class Builder {
        private int maxInFlight = 1000;
        private long maxInFlightBytes = 64L * 1024 * 1024;
        private Duration handlerTimeout = Duration.ofSeconds(30);
        private Duration commitInterval = Duration.ofSeconds(1);
        private Duration shutdownTimeout = Duration.ofSeconds(30);
        private StartPosition startFrom = StartPosition.EARLIEST;
        private int maxUncommittedPerPartition = 1 << 20;
        private Duration stallWarning = Duration.ofMinutes(1);
        private RetryPolicy retry = RetryPolicy.defaults();
        private DeadLetterPolicy deadLetter = DeadLetterPolicy.defaults();
        private final List<Middleware> middleware = new ArrayList<>();

        private Builder() {
        }

        public Builder maxInFlight(int maxInFlight) {
            this.maxInFlight = maxInFlight;
            return this;
        }

        public Builder maxInFlightBytes(long maxInFlightBytes) {
            this.maxInFlightBytes = maxInFlightBytes;
            return this;
        }

        public Builder handlerTimeout(Duration handlerTimeout) {
            this.handlerTimeout = handlerTimeout;
            return this;
        }

        public Builder commitInterval(Duration commitInterval) {
            this.commitInterval = commitInterval;
            return this;
        }

        public Builder shutdownTimeout(Duration shutdownTimeout) {
            this.shutdownTimeout = shutdownTimeout;
            return this;
        }

        public Builder startFrom(StartPosition startFrom) {
            this.startFrom = startFrom;
            return this;
        }

        public Builder maxUncommittedPerPartition(int maxUncommittedPerPartition) {
            this.maxUncommittedPerPartition = maxUncommittedPerPartition;
            return this;
        }

        public Builder stallWarning(Duration stallWarning) {
            this.stallWarning = stallWarning;
            return this;
        }

        public Builder retry(RetryPolicy retry) {
            this.retry = retry;
            return this;
        }

        public Builder deadLetter(DeadLetterPolicy deadLetter) {
            this.deadLetter = deadLetter;
            return this;
        }

        /** Adds middleware; the first added runs outermost. */
        public Builder middleware(Middleware m) {
            middleware.add(java.util.Objects.requireNonNull(m, "middleware"));
            return this;
        }

        public ConsumerOptions build() {
            Checks.intBetween(PREFIX + "maxInFlight", maxInFlight, 1, 1_000_000);
            Checks.longBetween(PREFIX + "maxInFlightBytes", maxInFlightBytes, 1024, 1L << 40);
            Checks.durationBetween(PREFIX + "handlerTimeout", handlerTimeout, Duration.ofMillis(1), Duration.ofDays(1));
            Checks.durationBetween(PREFIX + "commitInterval", commitInterval, Duration.ofMillis(1), Duration.ofHours(1));
            Checks.durationBetween(PREFIX + "shutdownTimeout", shutdownTimeout, Duration.ZERO, Duration.ofHours(1));
            Checks.intBetween(PREFIX + "maxUncommittedPerPartition", maxUncommittedPerPartition, 16, 1 << 26);
            Checks.durationBetween(PREFIX + "stallWarning", stallWarning, Duration.ofMillis(1), Duration.ofDays(1));
            if (maxUncommittedPerPartition < maxInFlight) {
                throw new ConfigException(PREFIX + "maxUncommittedPerPartition", maxUncommittedPerPartition,
                        "must not be less than " + PREFIX + "maxInFlight (" + maxInFlight + ")");
            }
            if (startFrom == null) {
                throw new ConfigException(PREFIX + "startFrom", null, "must be one of earliest, latest");
            }
            if (retry == null) {
                throw new ConfigException(PREFIX + "retry", null, "must be set");
            }
            if (deadLetter == null) {
                throw new ConfigException(PREFIX + "deadLetter", null, "must be set");
            }
            return new ConsumerOptions(this);
        }
    }
}
