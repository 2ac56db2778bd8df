package io.sluice;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;

/**
 * Publishes messages asynchronously. Thread-safe: share one per application.
 *
 * <p>Bounded: at most {@code publisher.maxPendingPublishes} messages are unacknowledged at once. When that many are
 * pending, {@link #publish} blocks the caller for up to {@code publisher.publishTimeout} for room, and then fails the
 * returned future with {@link PublishException}; it never drops a message and never buffers without limit.
 * Transient transport failures are retried with backoff before the future fails.
 */
public interface Publisher extends AutoCloseable {
    /**
     * Publishes {@code message} to {@code topic}. Assigns an id (UUIDv7) and timestamp when the message has none.
     *
     * @return a future completed with the receipt once the transport has stored the message, or failed with
     *         {@link PublishException} naming the reason
     */
    CompletableFuture<Receipt> publish(String topic, Message message);

    /**
     * Waits until every publish made before this call has completed (successfully or not), up to {@code timeout}.
     *
     * @return true if all completed in time
     */
    boolean flush(Duration timeout) throws InterruptedException;

    /** Flushes (up to the publish timeout) and releases the publisher. Later publishes fail. */
    @Override
    void close();
}
