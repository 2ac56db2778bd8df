package io.sluice;

import java.time.Duration;

/** Recorded as the failure of an attempt whose handler ran longer than the subscription's handler timeout. */
public class HandlerTimeoutException extends RuntimeException {
    public HandlerTimeoutException(Duration timeout) {
        super("handler did not return within " + timeout + " (consumer.handlerTimeout); it was interrupted");
    }
}
