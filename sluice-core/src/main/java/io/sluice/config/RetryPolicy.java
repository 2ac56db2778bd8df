package io.sluice.config;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * How failed handler attempts are retried: exponential backoff with full jitter. The delay before attempt
 * {@code n + 1} (after {@code n} failures) is uniformly random in {@code [0, min(maxDelay, initialDelay *
 * multiplier^(n-1))]}; full jitter spreads retries of many keys so they do not hit a recovering dependency together.
 *
 * <p>Immutable and thread-safe. Keys under {@code consumer.retry}: {@code initialDelay}, {@code multiplier},
 * {@code maxDelay}, {@code maxAttempts}, {@code nonRetryable} (exception class names) and
 * {@code nativeDelayThreshold}: a retry delay at least this long is handed to the broker's own delayed redelivery
 * when the transport has one (JetStream {@code nakWithDelay}, Kafka delay-tier topics) instead of holding the message
 * in memory. Unset by default. A handed-off message no longer holds back later messages of its key, so per-key order
 * is traded for not tying up in-flight capacity during long waits.
 *
 * <p>{@code maxAttempts: unlimited} ({@link Builder#retryForever()}) retries a failing message until it succeeds: no
 * failure is dead-lettered for running out of attempts (a {@code nonRetryable} failure, a
 * {@link io.sluice.DeadLetterException} or an undecodable payload still is). The failing message holds its key and
 * its in-flight slot meanwhile, so pair it with a circuit breaker (module sluice-resilience): an outage of a
 * dependency then pauses fetching instead of retrying every message forever.
 */
public final class RetryPolicy {
    static final String PREFIX = "consumer.retry.";
    private static final Duration MAX = Duration.ofDays(1);
    /** {@link #maxAttempts()} of a policy that retries forever ({@code maxAttempts: unlimited}). */
    public static final int UNLIMITED = Integer.MAX_VALUE;
    private static final int MAX_ATTEMPTS = 1000;

    private final Duration initialDelay;
    private final double multiplier;
    private final Duration maxDelay;
    private final int maxAttempts;
    private final List<Class<? extends Throwable>> nonRetryable;
    private final Duration nativeDelayThreshold;

    private RetryPolicy(Builder b) {
        this.nativeDelayThreshold = b.nativeDelayThreshold;
        this.initialDelay = b.initialDelay;
        this.multiplier = b.multiplier;
        this.maxDelay = b.maxDelay;
        this.maxAttempts = b.maxAttempts;
        this.nonRetryable = List.copyOf(b.nonRetryable);
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Defaults: 100ms initial delay, multiplier 2, 10s max delay, 5 attempts. */
    public static RetryPolicy defaults() {
        return builder().build();
    }

    /** Binds the {@code consumer.retry} section. */
    public static RetryPolicy from(ConfigSection s) {
        Builder b = builder();
        RetryPolicy d = defaults();
        b.initialDelay(s.duration("initialDelay", d.initialDelay))
                .multiplier(s.decimal("multiplier", d.multiplier))
                .maxDelay(s.duration("maxDelay", d.maxDelay))
                .maxAttempts(maxAttempts(s, d.maxAttempts))
                .nativeDelayThreshold(s.duration("nativeDelayThreshold", null));
        for (String name : s.strings("nonRetryable")) {
            b.nonRetryable(loadThrowable(s.key("nonRetryable"), name));
        }
        s.rejectUnknownKeys();
        return b.build();
    }

    /** {@code maxAttempts}: a whole number, or {@code unlimited}. */
    private static int maxAttempts(ConfigSection s, int fallback) {
        Object v = s.raw("maxAttempts");
        if (v instanceof String text && text.trim().equalsIgnoreCase("unlimited")) {
            return UNLIMITED;
        }
        if (v == null || v instanceof Integer) {
            return s.integer("maxAttempts", fallback);
        }
        try {
            return Integer.parseInt(String.valueOf(v).trim());
        } catch (NumberFormatException e) {
            throw new ConfigException(s.key("maxAttempts"), v, "must be a whole number between 1 and " + MAX_ATTEMPTS
                    + ", or unlimited");
        }
    }

    public Duration initialDelay() {
        return initialDelay;
    }

    public double multiplier() {
        return multiplier;
    }

    public Duration maxDelay() {
        return maxDelay;
    }

    /** Attempts in all, the first included; 1 means no retry, {@link #UNLIMITED} retries forever. */
    public int maxAttempts() {
        return maxAttempts;
    }

    /** True if this policy retries forever ({@code maxAttempts: unlimited}). */
    public boolean isUnlimited() {
        return maxAttempts == UNLIMITED;
    }

    /** True if a message that failed {@code attempts} times has no attempt left. Never, when unlimited. */
    public boolean exhausted(int attempts) {
        return maxAttempts != UNLIMITED && attempts >= maxAttempts;
    }

    public List<Class<? extends Throwable>> nonRetryable() {
        return nonRetryable;
    }

    /** Delays at least this long go to the broker's native delayed redelivery; null: never. */
    public Duration nativeDelayThreshold() {
        return nativeDelayThreshold;
    }

    /** True if {@code error} is an instance of a class configured as non-retryable. */
    public boolean isNonRetryable(Throwable error) {
        for (Class<? extends Throwable> c : nonRetryable) {
            if (c.isInstance(error)) {
                return true;
            }
        }
        return false;
    }

    /** The ceiling of the delay after {@code failures} failed attempts ({@code failures >= 1}), before jitter. */
    public long delayCeilingNanos(int failures) {
        double ceiling = initialDelay.toNanos() * Math.pow(multiplier, Math.max(0, failures - 1));
        return (long) Math.min(ceiling, (double) maxDelay.toNanos());
    }

    /** A random delay with full jitter after {@code failures} failed attempts. */
    public long delayNanos(int failures) {
        long ceiling = delayCeilingNanos(failures);
        return ceiling <= 0 ? 0 : ThreadLocalRandom.current().nextLong(ceiling + 1);
    }

    @Override
    public String toString() {
        return "RetryPolicy{initialDelay=" + Durations.format(initialDelay) + ", multiplier=" + multiplier
                + ", maxDelay=" + Durations.format(maxDelay) + ", maxAttempts="
                + (maxAttempts == UNLIMITED ? "unlimited" : String.valueOf(maxAttempts))
                + (nativeDelayThreshold == null ? "" : ", nativeDelayThreshold=" + Durations.format(nativeDelayThreshold))
                + ", nonRetryable="
                + nonRetryable.stream().map(Class::getName).toList() + '}';
    }

    @SuppressWarnings("unchecked")
    private static Class<? extends Throwable> loadThrowable(String key, String name) {
        Class<?> c;
        try {
            c = Class.forName(name, false, Thread.currentThread().getContextClassLoader());
        } catch (ClassNotFoundException | LinkageError e) {
            throw new ConfigException(key, name, "must name an exception class on the class path");
        }
        if (!Throwable.class.isAssignableFrom(c)) {
            throw new ConfigException(key, name, "must name a subclass of java.lang.Throwable");
        }
        return (Class<? extends Throwable>) c;
    }

    /** Builds a {@link RetryPolicy}; {@link #build()} validates every field. Not thread-safe. */
    public static final class Builder {
        private Duration initialDelay = Duration.ofMillis(100);
        private double multiplier = 2.0;
        private Duration maxDelay = Duration.ofSeconds(10);
        private int maxAttempts = 5;
        private final List<Class<? extends Throwable>> nonRetryable = new ArrayList<>();
        private Duration nativeDelayThreshold;

        private Builder() {
        }

        /** Hands retry delays at least this long to the broker (see the class comment); null to never. */
        public Builder nativeDelayThreshold(Duration threshold) {
            this.nativeDelayThreshold = threshold;
            return this;
        }

        public Builder initialDelay(Duration initialDelay) {
            this.initialDelay = initialDelay;
            return this;
        }

        public Builder multiplier(double multiplier) {
            this.multiplier = multiplier;
            return this;
        }

        public Builder maxDelay(Duration maxDelay) {
            this.maxDelay = maxDelay;
            return this;
        }

        /** Attempts in all, 1 to 1000, or {@link #UNLIMITED}. */
        public Builder maxAttempts(int maxAttempts) {
            this.maxAttempts = maxAttempts;
            return this;
        }

        /** Retries until the handler succeeds; see the class comment for what stops it instead. */
        public Builder retryForever() {
            return maxAttempts(UNLIMITED);
        }

        /** Failures of this class (or a subclass) go to the dead-letter topic at once. */
        public Builder nonRetryable(Class<? extends Throwable> type) {
            nonRetryable.add(type);
            return this;
        }

        public RetryPolicy build() {
            Checks.durationBetween(PREFIX + "initialDelay", initialDelay, Duration.ZERO, MAX);
            Checks.doubleBetween(PREFIX + "multiplier", multiplier, 1.0, 100.0);
            Checks.durationBetween(PREFIX + "maxDelay", maxDelay, Duration.ZERO, MAX);
            if (maxAttempts != UNLIMITED && (maxAttempts < 1 || maxAttempts > MAX_ATTEMPTS)) {
                throw new ConfigException(PREFIX + "maxAttempts", maxAttempts, "must be between 1 and " + MAX_ATTEMPTS
                        + ", or unlimited");
            }
            if (nativeDelayThreshold != null) {
                Checks.durationBetween(PREFIX + "nativeDelayThreshold", nativeDelayThreshold, Duration.ofMillis(1), MAX);
            }
            if (maxDelay.compareTo(initialDelay) < 0) {
                throw new ConfigException(PREFIX + "maxDelay", Durations.format(maxDelay),
                        "must not be less than " + PREFIX + "initialDelay (" + Durations.format(initialDelay) + ")");
            }
            return new RetryPolicy(this);
        }
    }
}
