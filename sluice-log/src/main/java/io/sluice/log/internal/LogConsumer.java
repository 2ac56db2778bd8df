package io.sluice.log.internal;

import io.sluice.Message;
import io.sluice.config.StartPosition;
import io.sluice.log.CorruptLogException;
import io.sluice.log.RecoveryEvent;
import io.sluice.spi.ConsumerSpec;
import io.sluice.spi.PartitionListener;
import io.sluice.spi.RecordSink;
import io.sluice.spi.TransportConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.LockSupport;
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
 * <p>Not thread-safe: owned by the subscription's poll thread, except {@link #wakeup()} and
 * {@link #wakeForRebalance()}, which any thread may call.
 */
final class LogConsumer implements TransportConsumer {
    private static final Logger log = LoggerFactory.getLogger(LogConsumer.class);
    private static final long REMIND_NANOS = TimeUnit.MINUTES.toNanos(5);
    private static final long COMMIT_TIMEOUT_SECONDS = 60;

    private final TopicLog topic;
    private final LogGroup group;
    private final ConsumerSpec spec;
    private final PartitionListener listener;
    private final OffsetStore store;
    private final Consumer<RecoveryEvent> events;
    private final PartitionCursor[] cursors;
    private final long[] remindAt;
    private final BatchDecoder decoder = new BatchDecoder();
    private long seenGeneration = -1;
    private boolean rebalancePending = true;
    private int nextPartition;
    private boolean closed;

    volatile Thread pollThread;
    volatile boolean waiting;
    private volatile boolean wakeupRequested;
    private volatile boolean rebalanceRequested;

    LogConsumer(TopicLog topic, ConsumerSpec spec, PartitionListener listener, OffsetStore store,
                Consumer<RecoveryEvent> events) {
        this.topic = topic;
        this.spec = spec;
        this.listener = listener;
        this.store = store;
        this.events = events;
        this.group = topic.group(spec.group());
        this.cursors = new PartitionCursor[topic.partitions.length];
        this.remindAt = new long[topic.partitions.length];
        topic.register(this);
        group.join(this);
    }

    @Override
    public void poll(int maxRecords, long maxBytes, boolean oversizedFirst, long timeoutNanos, RecordSink sink)
            throws InterruptedException {
        pollThread = Thread.currentThread();
        long deadline = System.nanoTime() + timeoutNanos;
        while (true) {
            if (rebalancePending || rebalanceRequested) {
                rebalance();
            }
            if (maxRecords == 0) {
                return;
            }
            if (fetch(maxRecords, maxBytes, oversizedFirst, sink) > 0 || wakeupRequested) {
                wakeupRequested = false;
                return;
            }
            long remaining = deadline - System.nanoTime();
            if (remaining <= 0) {
                return;
            }
            waiting = true;
            if (!available() && !wakeupRequested && !rebalanceRequested) {
                LockSupport.parkNanos(this, remaining);
            }
            waiting = false;
            if (Thread.interrupted()) {
                throw new InterruptedException();
            }
        }
    }

    private int fetch(int maxRecords, long maxBytes, boolean oversizedFirst, RecordSink sink)
            throws InterruptedException {
        int delivered = 0;
        long bytes = 0;
        int n = cursors.length;
        for (int i = 0; i < n && delivered < maxRecords; i++) {
            int p = (nextPartition + i) % n;
            PartitionCursor c = cursors[p];
            if (c == null || c.corruption() != null && !remind(p, c)) {
                continue;
            }
            try {
                while (delivered < maxRecords && c.fill(decoder)) {
                    Message m = c.peek();
                    int size = m.estimatedSize();
                    if (bytes + size > maxBytes && !(oversizedFirst && delivered == 0)) {
                        nextPartition = (p + 1) % n;
                        return delivered;
                    }
                    long offset = c.nextOffset();
                    c.next();
                    sink.accept(m, p, offset, size, 1, null);
                    bytes += size;
                    delivered++;
                }
            } catch (CorruptLogException e) {
                corrupted(p, e);
            } catch (InterruptedIOException e) {
                throw new InterruptedException(e.getMessage());
            } catch (IOException e) {
                throw new UncheckedIOException("reading " + topic.name + "/" + p + " failed", e);
            }
        }
        nextPartition = (nextPartition + 1) % n;
        return delivered;
    }

    private void corrupted(int partition, CorruptLogException e) {
        if (remindAt[partition] != 0) {
            return;
        }
        remindAt[partition] = System.nanoTime() + REMIND_NANOS;
        log.error("Topic {} group {}: stopped reading partition {}: {}. The other partitions go on; this one "
                        + "delivers nothing more until the segment is restored or the group is moved past offset {}",
                topic.name, spec.group(), partition, e.getMessage(), e.offset());
        events.accept(new RecoveryEvent(RecoveryEvent.Kind.SEGMENT_CORRUPT, topic.name, partition, e.file(),
                e.position(), e.offset(), 0, e.getMessage()));
    }

    /** Logs a reminder for a stopped partition when one is due; always false (the partition stays stopped). */
    private boolean remind(int partition, PartitionCursor c) {
        long now = System.nanoTime();
        if (remindAt[partition] != 0 && now - remindAt[partition] >= 0) {
            remindAt[partition] = now + REMIND_NANOS;
            log.error("Topic {} group {}: partition {} is still stopped at offset {}: {}", topic.name, spec.group(),
                    partition, c.nextOffset(), c.corruption().getMessage());
        }
        return false;
    }

    private boolean available() {
        for (PartitionCursor c : cursors) {
            if (c != null && c.behind()) {
                return true;
            }
        }
        return false;
    }

    /** Gives up partitions that moved away (after the listener drained them) and takes those that came to us. */
    private void rebalance() {
        rebalanceRequested = false;
        long generation = group.generation();
        if (generation == seenGeneration && !rebalancePending) {
            return;
        }
        boolean[] target = group.target(this);
        List<Integer> revoked = new ArrayList<>();
        for (int p = 0; p < cursors.length; p++) {
            if (cursors[p] != null && !target[p]) {
                revoked.add(p);
            }
        }
        if (!revoked.isEmpty()) {
            listener.revoked(revoked);
            for (int p : revoked) {
                cursors[p] = null;
                remindAt[p] = 0;
                group.release(this, p);
            }
        }
        List<Integer> assigned = new ArrayList<>();
        boolean complete = true;
        for (int p = 0; p < cursors.length; p++) {
            if (target[p] && cursors[p] == null) {
                if (group.tryAcquire(this, p)) {
                    try {
                        cursors[p] = new PartitionCursor(topic.partitions[p], startPosition(p),
                                "group " + spec.group());
                    } catch (IOException e) {
                        group.release(this, p);
                        throw new UncheckedIOException("positioning on " + topic.name + "/" + p + " failed", e);
                    }
                    assigned.add(p);
                } else {
                    complete = false; // its previous owner has not let go yet
                }
            }
        }
        if (!assigned.isEmpty()) {
            listener.assigned(assigned);
        }
        seenGeneration = generation;
        rebalancePending = !complete;
    }

    private long startPosition(int partition) {
        long committed = group.offsets.committed(partition);
        PartitionLog p = topic.partitions[partition];
        if (committed >= 0) {
            return Math.min(committed, p.highWatermark());
        }
        return spec.startFrom() == StartPosition.LATEST ? p.highWatermark() : p.logStartOffset();
    }

    @Override
    public void wakeup() {
        wakeupRequested = true;
        Thread t = pollThread;
        if (t != null) {
            LockSupport.unpark(t);
        }
    }

    void wakeForRebalance() {
        rebalanceRequested = true;
        Thread t = pollThread;
        if (t != null) {
            LockSupport.unpark(t);
        }
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
            if (p >= 0 && p < cursors.length && group.owns(this, p)) {
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
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        topic.unregister(this);
        group.leave(this);
    }
}
