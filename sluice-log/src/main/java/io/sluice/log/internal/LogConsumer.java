package io.sluice.log.internal;

import io.sluice.Message;
import io.sluice.config.StartPosition;
import io.sluice.log.CorruptLogException;
import io.sluice.log.RecoveryEvent;
import io.sluice.spi.ConsumerSpec;
import io.sluice.spi.PartitionListener;
import io.sluice.spi.support.GroupConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.UncheckedIOException;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

/**
 * One member of a consumer group on a log topic: follows the group's assignment, reads its partitions from their
 * committed positions through {@link PartitionCursor}s, and commits durably through the {@link OffsetStore}.
 *
 * <p>Records that retention deleted before this member read them are skipped and reported (see
 * {@link PartitionCursor}): the group goes on from the oldest record retained.
 *
 * <p>A partition whose next batch is corrupt stops being read (the others go on): the first time, the corruption is
 * logged at ERROR and recorded as a {@link RecoveryEvent.Kind#SEGMENT_CORRUPT} event; every five minutes after that a
 * reminder is logged while the member still owns the partition. Its lag stays visible.
 *
 * <p>The poll loop, group hand-over and pauses are {@link GroupConsumer}'s; this class keeps the cursors.
 *
 * <p>Not thread-safe: owned by the subscription's poll thread, except {@link #wakeup()} and {@link #signal()}, which
 * any thread may call.
 */
final class LogConsumer extends GroupConsumer {
    private static final Logger log = LoggerFactory.getLogger(LogConsumer.class);
    private static final long REMIND_NANOS = TimeUnit.MINUTES.toNanos(5);
    private static final long COMMIT_TIMEOUT_SECONDS = 60;

    private final TopicLog topic;
    private final LogGroup group;
    private final ConsumerSpec spec;
    private final OffsetStore store;
    private final Consumer<RecoveryEvent> events;
    private final PartitionCursor[] cursors;
    private final long[] remindAt;
    private final BatchDecoder decoder = new BatchDecoder();

    LogConsumer(TopicLog topic, ConsumerSpec spec, PartitionListener listener, OffsetStore store,
                Consumer<RecoveryEvent> events) {
        super(onChange -> topic.group(spec.group()).membership.join(spec.memberId(), onChange), listener);
        this.topic = topic;
        this.spec = spec;
        this.store = store;
        this.events = events;
        this.group = topic.group(spec.group());
        this.cursors = new PartitionCursor[topic.partitions.length];
        this.remindAt = new long[topic.partitions.length];
        topic.consumers.add(this);
    }

    /** The next record of {@code partition}, or null at its end or while it is stopped by corruption. */
    @Override
    protected Message peek(int partition) throws InterruptedException {
        PartitionCursor c = cursors[partition];
        if (c.corruption() != null) {
            remind(partition, c);
            return null;
        }
        try {
            return c.fill(decoder) ? c.peek() : null;
        } catch (CorruptLogException e) {
            corrupted(partition, e);
            return null;
        } catch (InterruptedIOException e) {
            throw new InterruptedException(e.getMessage());
        } catch (IOException e) {
            throw new UncheckedIOException("reading " + topic.name + "/" + partition + " failed", e);
        }
    }

    @Override
    protected long position(int partition) {
        return cursors[partition].nextOffset();
    }

    @Override
    protected void advance(int partition) {
        cursors[partition].next();
    }

    @Override
    protected boolean hasRecords(int partition) {
        return cursors[partition].behind();
    }

    private void corrupted(int partition, CorruptLogException e) {
        if (remindAt[partition] != 0) {
            return;
        }
        remindAt[partition] = System.nanoTime() + REMIND_NANOS;
        log.error("Topic {} group {}: stopped reading partition {}: {}. The other partitions go on; this one "
                        + "delivers nothing more until the segment is restored or the group is moved past the damage"
                        + "{}", topic.name, spec.group(), partition, e.getMessage(),
                e.resumeOffset() < 0 ? "" : " (to offset " + e.resumeOffset() + ")");
        events.accept(new RecoveryEvent(RecoveryEvent.Kind.SEGMENT_CORRUPT, topic.name, partition, e.file(),
                e.position(), e.offset(), 0, e.getMessage()));
    }

    /** Logs a reminder for a stopped partition when one is due. */
    private void remind(int partition, PartitionCursor c) {
        long now = System.nanoTime();
        if (remindAt[partition] != 0 && now - remindAt[partition] >= 0) {
            remindAt[partition] = now + REMIND_NANOS;
            log.error("Topic {} group {}: partition {} is still stopped at offset {}: {}", topic.name, spec.group(),
                    partition, c.nextOffset(), c.corruption().getMessage());
        }
    }

    @Override
    protected void openPartition(int partition) {
        try {
            cursors[partition] = new PartitionCursor(topic.partitions[partition], startPosition(partition),
                    "group " + spec.group());
        } catch (IOException e) {
            throw new UncheckedIOException("positioning on " + topic.name + "/" + partition + " failed", e);
        }
    }

    @Override
    protected void closePartition(int partition) {
        cursors[partition] = null;
        remindAt[partition] = 0;
    }

    private long startPosition(int partition) {
        long committed = group.offsets.committed(partition);
        PartitionLog p = topic.partitions[partition];
        if (committed >= 0) {
            return Math.min(committed, p.highWatermark());
        }
        return spec.startFrom() == StartPosition.LATEST ? p.highWatermark() : p.logStartOffset();
    }

    /**
     * Commits for the partitions this member still owns (a member that lost a partition is fenced, as Kafka fences
     * commits of an old generation). With {@code sync}, returns once the commit is forced to disk.
     */
    @Override
    public void commit(Map<Integer, Long> nextOffsets, boolean sync) {
        CompletableFuture<Void> done = commitInBackground(nextOffsets);
        if (sync) {
            try {
                done.get(COMMIT_TIMEOUT_SECONDS, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while committing group " + spec.group(), e);
            } catch (ExecutionException e) {
                throw new IllegalStateException("committing group " + spec.group() + " on topic " + topic.name
                        + " failed: " + e.getCause(), e.getCause());
            } catch (TimeoutException e) {
                throw new IllegalStateException("committing group " + spec.group() + " on topic " + topic.name
                        + " was not stored within " + COMMIT_TIMEOUT_SECONDS + "s");
            }
        }
    }

    /**
     * Queues the commit on the offset store's thread, which forces it with the other commits waiting then (one
     * fsync per batch); the future completes once it is on disk. Commits of partitions this member no longer owns
     * are refused (and the future completes: there is nothing left for this member to commit).
     */
    @Override
    public CompletableFuture<Void> commitInBackground(Map<Integer, Long> nextOffsets) {
        int[] partitions = new int[nextOffsets.size()];
        long[] offsets = new long[nextOffsets.size()];
        int n = 0;
        for (Map.Entry<Integer, Long> e : nextOffsets.entrySet()) {
            int p = e.getKey();
            if (owns(p)) {
                partitions[n] = p;
                offsets[n++] = e.getValue();
            } else {
                log.debug("Commit of partition {} by {} refused: no longer its owner", p, spec.memberId());
            }
        }
        if (n == 0) {
            return CompletableFuture.completedFuture(null);
        }
        if (n < partitions.length) {
            partitions = java.util.Arrays.copyOf(partitions, n);
            offsets = java.util.Arrays.copyOf(offsets, n);
        }
        return store.commit(group.offsets, partitions, offsets);
    }

    @Override
    public Map<Integer, Long> lag() {
        Map<Integer, Long> lag = new HashMap<>();
        for (int p = 0; p < cursors.length; p++) {
            PartitionCursor c = cursors[p];
            if (c != null) {
                lag.put(p, Math.max(0, topic.partitions[p].highWatermark() - c.nextOffset()));
            }
        }
        return lag;
    }

    @Override
    protected void closing() {
        topic.consumers.remove(this);
    }
}
