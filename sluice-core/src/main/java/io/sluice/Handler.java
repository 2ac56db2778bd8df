package io.sluice;

/**
 * Processes one message. Returning normally acknowledges it; throwing asks the engine to retry it per the
 * subscription's retry policy, or to dead-letter it at once when the exception is non-retryable
 * ({@link DeadLetterException}, an undecodable payload, or a class listed in the policy). Throw
 * {@link RetryLaterException} to choose the retry delay yourself.
 *
 * <p>Called on a virtual thread, one message of a key at a time; messages of different keys run concurrently, so a
 * handler must be thread-safe. It must not block forever: it is interrupted after the subscription's handler
 * timeout and the attempt counts as failed, so respond to interruption. It must not call back into the
 * {@link Subscription} that delivered the message and wait for it (closing it from inside a handler deadlocks the
 * drain). Avoid {@code synchronized} around blocking calls: on JDK 21 that pins the carrier thread.
 */
@FunctionalInterface
public interface Handler {
    /**
     * Handles one message.
     *
     * @param message the delivered message; its payload array is shared, do not modify it
     * @throws Exception to fail this attempt
     */
    void handle(Message message) throws Exception;
}
