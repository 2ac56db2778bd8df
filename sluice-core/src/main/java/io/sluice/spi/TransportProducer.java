package io.sluice.spi;

import io.sluice.Message;
import io.sluice.Receipt;

import java.util.concurrent.CompletableFuture;

/**
 * Sends messages to the broker: the publishing seam of a transport. Thread-safe. Bounding, retrying and id
 * assignment happen above it, in the publisher.
 */
public interface TransportProducer {
    /**
     * Sends {@code message} (whose id and timestamp are set) to {@code topic}.
     *
     * @return a future completed once the broker has stored the message, or failed; a failure for which
     *         {@link #isTransient} is true may be retried by the caller
     */
    CompletableFuture<Receipt> send(String topic, Message message);

    /** True if {@code failure} may succeed when the same send is tried again (a timeout, a leader change). */
    default boolean isTransient(Throwable failure) {
        return failure instanceof TransientTransportException;
    }

    /** Pushes out anything buffered (lingering batches) now. */
    default void flush() {
    }
}
