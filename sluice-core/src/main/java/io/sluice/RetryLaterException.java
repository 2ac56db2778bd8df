package io.sluice;

import java.time.Duration;

/**
 * Thrown by a handler to retry the message after {@code delay} instead of the policy's backoff. The message's key
 * stays held meanwhile; other keys keep flowing.
 *
 * <p>By default the attempt counts towards {@code maxAttempts}. One {@link #notAttempted made by}
 * {@code notAttempted} does not: for middleware that refused to call the handler at all (an open circuit breaker, a
 * rate limit), so a downstream outage defers messages instead of spending their attempts and dead-lettering them.
 */
public class RetryLaterException extends Exception {
    private final Duration delay;
    private final boolean countsAsAttempt;

    public RetryLaterException(Duration delay, String message) {
        this(delay, message, true);
    }

    private RetryLaterException(Duration delay, String message, boolean countsAsAttempt) {
        super(message);
        if (delay.isNegative()) {
            throw new IllegalArgumentException("retry delay must not be negative: " + delay);
        }
        this.delay = delay;
        this.countsAsAttempt = countsAsAttempt;
    }

    /** A retry after {@code delay} that gives the attempt back: the handler was not called. */
    public static RetryLaterException notAttempted(Duration delay, String message) {
        return new RetryLaterException(delay, message, false);
    }

    public Duration delay() {
        return delay;
    }

    /** False if the handler was not called, so the attempt is not counted. */
    public boolean countsAsAttempt() {
        return countsAsAttempt;
    }
}
