package io.sluice;

import java.time.Duration;

/**
 * A running subscription of a consumer group member to a topic. Thread-safe.
 *
 * <p>Closing is graceful: fetching stops, handler attempts already running get until the deadline to finish,
 * the positions of finished messages are committed (or acknowledged), and every unfinished message stays with the
 * broker to be delivered again. Nothing is dropped.
 */
public interface Subscription extends AutoCloseable {
    String topic();

    String group();

    /** Stops fetching new messages; messages already fetched keep being handled. Group membership is kept. */
    void pause();

    /** Resumes fetching after {@link #pause()}. */
    void resume();

    boolean isPaused();

    /** The partitions this member holds now (for transports without partitions, {@code [0]} once joined). */
    java.util.Set<Integer> assignedPartitions();

    /** Counters of this subscription so far. */
    SubscriptionStats stats();

    /**
     * Messages published but not yet fetched by this member, per partition it holds, as the transport last reported
     * them (refreshed by the subscription's own thread about every 100 ms); empty before the first report or when
     * the transport cannot tell.
     */
    default java.util.Map<Integer, Long> lag() {
        return java.util.Map.of();
    }

    /**
     * Closes gracefully, waiting up to {@code deadline} for running handlers.
     *
     * @return true if every running handler finished within the deadline
     */
    boolean close(Duration deadline);

    /**
     * True once the subscription has ended for good: it fetches and handles nothing more, and what it finished is
     * committed or acknowledged. It ends when closed, or by itself when its consumer fails.
     */
    boolean isEnded();

    /**
     * Waits until the subscription has ended (see {@link #isEnded()}), up to {@code timeout}; does not close it.
     *
     * @return true if it has ended
     * @throws InterruptedException if interrupted while waiting
     */
    boolean awaitEnd(Duration timeout) throws InterruptedException;

    /**
     * Completes once the subscription has ended (see {@link #isEnded()}), on the thread that ended it; dependent
     * actions must not block.
     */
    java.util.concurrent.CompletionStage<Void> whenEnded();

    /** Closes gracefully with the subscription's configured {@code consumer.shutdownTimeout}. */
    @Override
    void close();
}
