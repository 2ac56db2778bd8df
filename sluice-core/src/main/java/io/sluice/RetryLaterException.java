package io.sluice;

import java.time.Duration;

/**
 * Thrown by a handler to retry the message after {@code delay} instead of the policy's backoff. The attempt still
 * counts towards {@code maxAttempts}. The message's key stays held meanwhile; other keys keep flowing.
 */
public class RetryLaterException extends Exception {
    private final Duration delay;

    public RetryLaterException(Duration delay, String message) {
        super(message);
        if (delay.isNegative()) {
            throw new IllegalArgumentException("retry delay must not be negative: " + delay);
        }
        this.delay = delay;
    }

    public Duration delay() {
        return delay;
    }
}
