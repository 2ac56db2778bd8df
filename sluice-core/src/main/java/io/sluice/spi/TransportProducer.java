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

    /**
     * Sends like {@link #send(String, Message)} within {@code timeout} (the publisher passes
     * {@code publisher.publishTimeout}). A transport that must wait before it can send at all (look up or create a
     * topic on its first publish) waits on a thread of its own, never the caller's, and fails the future with a
     * {@link io.sluice.PublishException} naming the timeout if it cannot send by then. The default ignores the
     * timeout, for transports whose {@code send} never waits.
     */
    default CompletableFuture<Receipt> send(String topic, Message message, java.time.Duration timeout) {
        return send(topic, message);
    }

    /** True if {@code failure} may succeed when the same send is tried again (a timeout, a leader change). */
    default boolean isTransient(Throwable failure) {
        return failure instanceof TransientTransportException;
    }

    /** Pushes out anything buffered (lingering batches) now. */
    default void flush() {
    }
}
