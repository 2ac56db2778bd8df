package io.sluice.spi;

import java.util.Map;

/**
 * One group member's connection to a topic: the seam a backend implements for consuming. Kept narrow so that a
 * transport is a thin adapter and everything about ordering, retries and dead letters lives once in the engine.
 *
 * <p>Not thread-safe: owned by the subscription's poll thread, which makes every call except {@link #wakeup()}.
 */
public interface TransportConsumer extends AutoCloseable {
    /**
     * Hands fetched records to {@code sink}: at most {@code maxRecords} of them, totalling at most {@code maxBytes}
     * (by the sizes given to the sink), waiting up to {@code timeoutNanos} for the first. A record that does not fit
     * is kept for a later poll, except that with {@code oversizedFirst} a first record larger than {@code maxBytes}
     * is delivered alone, so one huge message cannot stall a subscription with nothing else in flight. Records of a
     * partition come in offset order and each once per assignment. With {@code maxRecords == 0} it delivers nothing
     * but keeps the membership alive and runs pending rebalance callbacks. Returns early on {@link #wakeup()}.
     */
    void poll(int maxRecords, long maxBytes, boolean oversizedFirst, long timeoutNanos, RecordSink sink)
            throws InterruptedException;

    /**
     * Stops fetching from {@code partitions} until {@link #resumePartitions}: later polls hand the sink no record of
     * them, while the other partitions keep flowing. Records already handed to the sink stay with the engine.
     * Membership is unaffected; a paused partition that is revoked is forgotten, and one assigned (again) starts
     * unpaused. The engine pauses a partition whose uncommitted window is full, so one stuck message stalls only
     * its own partition. Idempotent; partitions not held are ignored.
     *
     * <p>Every Sluice transport implements this and joins {@code PausePartitionsContractTest}. A transport that
     * cannot pause a single partition keeps the default, which throws {@link UnsupportedOperationException}; the
     * engine then falls back to stopping all fetching while any partition's window is full (and says so once).
     */
    default void pausePartitions(java.util.Collection<Integer> partitions) {
        throw new UnsupportedOperationException("pausePartitions not implemented by " + getClass().getName());
    }

    /** Resumes fetching from {@code partitions} after {@link #pausePartitions}. Idempotent. */
    default void resumePartitions(java.util.Collection<Integer> partitions) {
        throw new UnsupportedOperationException("resumePartitions not implemented by " + getClass().getName());
    }

    /** Makes a running or the next {@link #poll} return promptly. Any thread. */
    void wakeup();

    /**
     * Records for each partition the offset of the next message the group should receive (the watermark). Only for
     * {@link Acknowledgement#OFFSETS} transports. With {@code sync} the call returns once the commit is durable and
     * throws if it failed; the engine uses it on revocation and close. The engine sends background commits through
     * {@link #commitInBackground} instead, so {@code sync = false} is only kept for callers outside the engine.
     */
    void commit(Map<Integer, Long> nextOffsets, boolean sync);

    /**
     * Sends a commit of {@code nextOffsets} in the background. What a transport owes the engine: the returned future
     * completes normally only once the commit is durable, and exceptionally if it failed or its outcome is unknown;
     * it must complete in every case (on close at the latest), and may complete on any thread. The engine counts an
     * offset as committed only when its future completed normally: after a failure it sends the offsets again, and
     * the synchronous commit on revocation or close covers everything not confirmed. Commits of one partition may
     * be sent while an earlier one is pending; a transport must not let an older one overwrite a newer one.
     *
     * <p>The default commits synchronously on the calling (poll) thread, which is right where a commit is cheap;
     * a transport with a real asynchronous commit (Kafka {@code commitAsync} with a callback) overrides it.
     */
    default java.util.concurrent.CompletableFuture<Void> commitInBackground(Map<Integer, Long> nextOffsets) {
        try {
            commit(nextOffsets, true);
            return java.util.concurrent.CompletableFuture.completedFuture(null);
        } catch (RuntimeException e) {
            return java.util.concurrent.CompletableFuture.failedFuture(e);
        }
    }

    /** Acknowledges one finished message. Only for {@link Acknowledgement#PER_MESSAGE} transports. */
    default void ack(Object ackHandle) {
        throw new UnsupportedOperationException("this transport commits offsets; it has no per-message ack");
    }

    /**
     * Acknowledges a message whose outcome is final because its dead letter was confirmed. Per-message transports
     * may tell the broker to stop redelivering it (JetStream {@code term}); the default is {@link #ack}.
     */
    default void deadLettered(Object ackHandle) {
        ack(ackHandle);
    }

    /**
     * Hands a failed message to the broker to deliver again after {@code r.delayNanos()}, for transports with
     * {@link TransportCapabilities#nativeDelay()}. When the returned future completes, the broker owns the retry and
     * the engine treats the original delivery as finished (commits past it or considers it acked); if it fails, the
     * engine keeps the message and retries in memory. Later messages of the same key are no longer held back by it.
     */
    default java.util.concurrent.CompletableFuture<Void> redeliverLater(Redelivery r) {
        return java.util.concurrent.CompletableFuture.failedFuture(
                new UnsupportedOperationException("this transport has no native delayed redelivery"));
    }

    /**
     * Hands an unfinished message back for redelivery (shutdown, revoked partition). Offset transports need nothing:
     * the message is simply not committed.
     */
    default void release(Object ackHandle) {
    }

    /**
     * The longest the engine may take, inside {@link PartitionListener#revoked}, to finish and commit revoked
     * partitions before the broker would give up on this member (Kafka: within {@code max.poll.interval.ms}); null
     * when only the engine's own {@code consumer.shutdownTimeout} applies.
     */
    default java.time.Duration maxRevokeTime() {
        return null;
    }

    /** Messages published but not yet delivered to this member, per assigned partition; empty when unknown. */
    default Map<Integer, Long> lag() {
        return Map.of();
    }

    /** Leaves the group without committing anything. */
    @Override
    void close();
}
