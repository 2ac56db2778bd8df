package io.sluice.internal.engine;

import io.sluice.spi.TransportConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * Commits partition watermarks on an offset transport and keeps, per {@link PartitionTracker}, what the transport
 * confirmed: background commits ({@link TransportConsumer#commitInBackground}) count only once their future completes
 * normally, a failed one is sent again, and a synchronous commit covers every watermark not confirmed.
 *
 * <p>Threads: owned by the engine's owner thread, which makes every call; only the completion of a background
 * commit arrives on another thread (the transport's), through a lock-free queue the owner drains.
 */
final class OffsetCommitter {
    private static final Logger log = LoggerFactory.getLogger(OffsetCommitter.class);

    private final TransportConsumer consumer;
    private final String topic;
    private final String group;
    private final Runnable wakeOwner;
    private final Thread owner;
    private final ConcurrentLinkedQueue<Outcome> outcomes = new ConcurrentLinkedQueue<>();
    private final long quietAfterFailureNanos;
    private int pending;
    /**
     * Set while eager commits wait after a failed background commit, until {@code quietUntilNanos}: a commit that
     * keeps failing (a full disk, a closed store) must not be resent, logged and forced on every loop turn.
     */
    private boolean quiet;
    private long quietUntilNanos;

    /**
     * @param quietAfterFailureNanos how long {@link #mayCommitEagerly} says no after a failed background commit (the
     *                               commit interval: the periodic commit goes on)
     */
    OffsetCommitter(TransportConsumer consumer, String topic, String group, Thread owner, Runnable wakeOwner,
                    long quietAfterFailureNanos) {
        this.consumer = consumer;
        this.topic = topic;
        this.group = group;
        this.owner = owner;
        this.wakeOwner = wakeOwner;
        this.quietAfterFailureNanos = quietAfterFailureNanos;
    }

    /**
     * False for a while after a background commit failed, so that eager commits (as the watermark moves) back off;
     * true again after the quiet time or once a commit succeeded. Reads the clock only while quiet.
     */
    boolean mayCommitEagerly() {
        if (quiet && System.nanoTime() - quietUntilNanos >= 0) {
            quiet = false;
        }
        return !quiet;
    }

    /** Background commits sent and not yet answered. */
    int pending() {
        return pending;
    }

    /** True if an answer waits for {@link #drainOutcomes}. Any thread. */
    boolean hasOutcomes() {
        return !outcomes.isEmpty();
    }

    /** Sends, in the background, every watermark that moved or whose last background commit failed. */
    void commitInBackground(PartitionTracker[] trackers) {
        Map<Integer, Long> offsets = null;
        List<PartitionTracker> sentTo = null;
        for (PartitionTracker t : trackers) {
            if (t != null && t.needsBackgroundCommit()) {
                if (offsets == null) {
                    offsets = new HashMap<>();
                    sentTo = new ArrayList<>();
                }
                offsets.put(t.partition, t.watermark());
                sentTo.add(t);
                t.markSent(t.watermark());
            }
        }
        if (offsets == null) {
            return;
        }
        Outcome outcome = new Outcome(sentTo, offsets);
        pending++;
        CompletableFuture<Void> done;
        try {
            done = consumer.commitInBackground(offsets);
        } catch (RuntimeException e) {
            done = CompletableFuture.failedFuture(e);
        }
        done.whenComplete((ok, error) -> {
            outcome.error = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
            outcomes.add(outcome);
            if (Thread.currentThread() != owner) {
                wakeOwner.run();
            }
        });
        drainOutcomes(trackers); // a transport that commits synchronously has answered already
    }

    /** Applies the answers to background commits: confirmed offsets are committed, failed ones are sent again. */
    void drainOutcomes(PartitionTracker[] trackers) {
        Outcome o;
        while ((o = outcomes.poll()) != null) {
            pending--;
            if (o.error != null) {
                log.warn("Committing {} of topic {} group {} failed; it will be sent again in {} ms at the latest",
                        o.offsets, topic, group, quietAfterFailureNanos / 1_000_000, o.error);
                quiet = true;
                quietUntilNanos = System.nanoTime() + quietAfterFailureNanos;
            } else {
                quiet = false;
            }
            for (PartitionTracker t : o.trackers) {
                // A tracker replaced since (the partition was revoked and assigned again) is not this commit's.
                if (t.partition < trackers.length && trackers[t.partition] == t) {
                    long offset = o.offsets.get(t.partition);
                    if (o.error == null) {
                        t.markCommitted(offset);
                    } else {
                        t.markFailed(offset);
                    }
                }
            }
        }
    }

    /**
     * Commits synchronously the watermark of every tracked partition in {@code partitions} (null: all) that the
     * transport has not confirmed, whether or not a background commit of it was sent (it may have failed or still
     * be pending). A failure is logged; the offsets stay unconfirmed.
     */
    void commitNow(PartitionTracker[] trackers, Set<Integer> partitions) {
        Map<Integer, Long> offsets = null;
        for (PartitionTracker t : trackers) {
            if (t != null && t.hasUncommitted() && (partitions == null || partitions.contains(t.partition))) {
                if (offsets == null) {
                    offsets = new HashMap<>();
                }
                offsets.put(t.partition, t.watermark());
            }
        }
        if (offsets == null) {
            return;
        }
        try {
            consumer.commit(offsets, true);
            for (Map.Entry<Integer, Long> e : offsets.entrySet()) {
                trackers[e.getKey()].markCommitted(e.getValue());
            }
        } catch (RuntimeException e) {
            log.warn("Committing {} of topic {} group {} failed; it will be tried again", offsets, topic, group, e);
        }
    }

    /** A background commit and, once the transport answered, its error (null when confirmed). */
    private static final class Outcome {
        final List<PartitionTracker> trackers;
        final Map<Integer, Long> offsets;
        volatile Throwable error;

        Outcome(List<PartitionTracker> trackers, Map<Integer, Long> offsets) {
            this.trackers = trackers;
            this.offsets = offsets;
        }
    }
}
