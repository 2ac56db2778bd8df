package io.sluice.internal.engine;

import io.sluice.spi.TransportConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The uncommitted window of each partition: pauses fetching from a partition whose window is full and resumes it
 * once a quarter is free ({@link TransportConsumer#pausePartitions}), so one stuck message stalls only its own
 * partition; and reports a watermark that stands on the same unfinished message longer than
 * {@code consumer.stallWarning} (a WARN, and {@link #stalled()} for stats and meters).
 *
 * <p>Threads: owned by the engine's owner thread; {@link #stalled()} may be read from any thread.
 */
final class PartitionWindows {
    private static final Logger log = LoggerFactory.getLogger(PartitionWindows.class);

    private final TransportConsumer consumer;
    private final String topic;
    private final String group;
    private final int maxUncommitted;
    private final long stallWarningNanos;
    /**
     * Partitions whose paused state changed since the transport was last told, in order, maybe repeated. What the
     * transport is told is each one's state at {@link #apply} time, not the changes: a resume then a pause of one
     * partition in one batch must leave it paused.
     */
    private final List<Integer> touched = new ArrayList<>();
    /** False once the transport said it cannot pause single partitions: then a full window stops all fetching. */
    private boolean perPartition = true;
    private int paused;
    private volatile Map<Integer, Long> stalled = Map.of();

    PartitionWindows(TransportConsumer consumer, String topic, String group, int maxUncommitted,
                     long stallWarningNanos) {
        this.consumer = consumer;
        this.topic = topic;
        this.group = group;
        this.maxUncommitted = maxUncommitted;
        this.stallWarningNanos = stallWarningNanos;
    }

    /** A record was tracked in {@code t}: pause its partition if its window is now full. */
    void tracked(PartitionTracker t) {
        if (!t.paused && t.span() >= maxUncommitted) {
            t.paused = true; // the transport is told after the poll: the sink must not call back into it
            paused++;
            touched.add(t.partition);
        }
    }

    /**
     * A delivery of {@code t} finished: resume its partition once a quarter of its window is free, not at the first
     * free slot, so a partition running near its bound does not flip between pause and resume on every message.
     */
    void completed(PartitionTracker t) {
        if (t.paused && t.span() < maxUncommitted - (maxUncommitted >> 2)) {
            t.paused = false;
            paused--;
            touched.add(t.partition);
        }
    }

    /** The partition of {@code t} was assigned (again): the transport starts it unpaused. */
    void assigned(PartitionTracker t) {
        if (t.paused) {
            touched.add(t.partition);
        }
    }

    /** {@code t} is dropped (its partition revoked, lost or started afresh). */
    void forgotten(PartitionTracker t) {
        if (t.paused) {
            t.paused = false;
            paused--;
        }
    }

    /** True if fetching must stop altogether: a window is full and the transport cannot pause single partitions. */
    boolean blockAllFetching() {
        return paused > 0 && !perPartition;
    }

    /**
     * Tells the transport, outside a poll, which partitions to stop or start fetching: each touched partition's
     * current state in {@code trackers} (a partition without a tracker is not paused).
     */
    void apply(PartitionTracker[] trackers) {
        if (touched.isEmpty()) {
            return;
        }
        try {
            if (perPartition) {
                List<Integer> pause = new ArrayList<>();
                List<Integer> resume = new ArrayList<>();
                for (int p : touched) {
                    if (pause.contains(p) || resume.contains(p)) {
                        continue; // the batch is small: a state changes rarely, not per message
                    }
                    boolean isPaused = p < trackers.length && trackers[p] != null && trackers[p].paused;
                    (isPaused ? pause : resume).add(p);
                }
                if (!pause.isEmpty()) {
                    consumer.pausePartitions(pause);
                }
                if (!resume.isEmpty()) {
                    consumer.resumePartitions(resume);
                }
            }
        } catch (UnsupportedOperationException e) {
            perPartition = false;
            log.info("Topic {} group {}: the transport cannot pause single partitions; a partition whose "
                    + "uncommitted window is full stops fetching from all of them until it drains", topic, group);
        } finally {
            touched.clear();
        }
    }

    /**
     * Finds partitions whose watermark has stood on the same unfinished message longer than the stall warning,
     * says so once per stuck message, and publishes them. Called periodically, so it costs nothing per message.
     */
    void checkStalls(PartitionTracker[] trackers, long now) {
        boolean changed = false;
        for (PartitionTracker t : trackers) {
            if (t == null) {
                continue;
            }
            long head = t.span() == 0 ? -1 : t.headSeq();
            if (head != t.stallHeadSeq) {
                if (t.stalled) {
                    log.info("Topic {} group {} partition {}: the commit watermark moves again", topic, group,
                            t.partition);
                    t.stalled = false;
                    changed = true;
                }
                t.stallHeadSeq = head;
                t.stallSinceNanos = now;
            } else if (head >= 0 && !t.stalled && now - t.stallSinceNanos >= stallWarningNanos) {
                t.stalled = true;
                changed = true;
                log.warn("Topic {} group {} partition {}: the commit watermark has not moved for {} ms; the message "
                                + "at offset {} is unfinished ({} offsets tracked above it{})", topic, group,
                        t.partition, (now - t.stallSinceNanos) / 1_000_000, t.headOffset(), t.span() - 1,
                        t.paused ? "; fetching from the partition is paused" : "");
            }
        }
        if (changed) {
            publish(trackers);
        }
    }

    /** Publishes the stalled partitions of {@code trackers} for readers on other threads. */
    void publish(PartitionTracker[] trackers) {
        Map<Integer, Long> now = new TreeMap<>();
        for (PartitionTracker t : trackers) {
            if (t != null && t.stalled && t.span() > 0) {
                now.put(t.partition, t.headOffset());
            }
        }
        stalled = Map.copyOf(now);
    }

    /** Stalled partitions and their stuck offsets. Any thread. */
    Map<Integer, Long> stalled() {
        return stalled;
    }

    /** The subscription ended: nothing is stalled any more. */
    void clear() {
        stalled = Map.of();
    }
}
