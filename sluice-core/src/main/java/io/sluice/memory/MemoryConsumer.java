package io.sluice.memory;

import io.sluice.Message;
import io.sluice.config.StartPosition;
import io.sluice.spi.ConsumerSpec;
import io.sluice.spi.PartitionListener;
import io.sluice.spi.RecordSink;
import io.sluice.spi.TransportConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.LockSupport;

/**
 * One member of a memory consumer group: follows the group's assignment and reads its partitions from their
 * positions.
 *
 * <p>Not thread-safe: owned by the subscription's poll thread, except {@link #wakeup()} and
 * {@link #wakeForRebalance()}, which any thread may call.
 */
final class MemoryConsumer implements TransportConsumer {
    private static final Logger log = LoggerFactory.getLogger(MemoryConsumer.class);

    private final MemoryTopic topic;
    private final MemoryGroup group;
    private final ConsumerSpec spec;
    private final PartitionListener listener;
    /** Next offset to read per owned partition; -1 where not owned. */
    private final long[] positions;
    private long seenGeneration = -1;
    private boolean rebalancePending = true;
    private int nextPartition;
    private boolean closed;

    volatile Thread pollThread;
    volatile boolean waiting;
    private volatile boolean wakeupRequested;
    private volatile boolean rebalanceRequested;

    MemoryConsumer(MemoryTopic topic, ConsumerSpec spec, PartitionListener listener) {
        this.topic = topic;
        this.spec = spec;
        this.listener = listener;
        this.group = topic.group(spec.group());
        this.positions = new long[topic.partitions.length];
        java.util.Arrays.fill(positions, -1);
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

    private int fetch(int maxRecords, long maxBytes, boolean oversizedFirst, RecordSink sink) {
        int delivered = 0;
        long bytes = 0;
        int n = positions.length;
        for (int i = 0; i < n && delivered < maxRecords; i++) {
            int p = (nextPartition + i) % n;
            long position = positions[p];
            if (position < 0) {
                continue;
            }
            MemoryPartition partition = topic.partitions[p];
            long end = partition.size();
            while (position < end && delivered < maxRecords) {
                Message m = partition.get(position);
                int size = m.estimatedSize();
                if (bytes + size > maxBytes && !(oversizedFirst && delivered == 0)) {
                    positions[p] = position;
                    nextPartition = (p + 1) % n;
                    return delivered;
                }
                sink.accept(m, p, position, size, 1, null);
                bytes += size;
                delivered++;
                position++;
            }
            positions[p] = position;
        }
        nextPartition = (nextPartition + 1) % n;
        return delivered;
    }

    private boolean available() {
        for (int p = 0; p < positions.length; p++) {
            if (positions[p] >= 0 && positions[p] < topic.partitions[p].size()) {
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
        for (int p = 0; p < positions.length; p++) {
            if (positions[p] >= 0 && !target[p]) {
                revoked.add(p);
            }
        }
        if (!revoked.isEmpty()) {
            listener.revoked(revoked);
            for (int p : revoked) {
                positions[p] = -1;
                group.release(this, p);
            }
        }
        List<Integer> assigned = new ArrayList<>();
        boolean complete = true;
        for (int p = 0; p < positions.length; p++) {
            if (target[p] && positions[p] < 0) {
                if (group.tryAcquire(this, p)) {
                    positions[p] = startPosition(p);
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

    /**
     * The committed position, or the start the group's policy resolves to. A resolved start is committed at once:
     * otherwise, with {@code latest}, a partition that moved on before its first commit would be resolved again
     * from a later end, skipping what the first owner fetched but did not finish.
     */
    private long startPosition(int partition) {
        long committed = group.committed(partition);
        if (committed >= 0) {
            return committed;
        }
        long start = spec.startFrom() == StartPosition.LATEST ? topic.partitions[partition].size() : 0;
        group.commit(this, partition, start);
        return start;
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

    @Override
    public void commit(Map<Integer, Long> nextOffsets, boolean sync) {
        for (Map.Entry<Integer, Long> e : nextOffsets.entrySet()) {
            if (!group.commit(this, e.getKey(), e.getValue())) {
                log.debug("Commit of partition {} by {} refused: no longer its owner", e.getKey(), spec.memberId());
            }
        }
    }

    @Override
    public Map<Integer, Long> lag() {
        Map<Integer, Long> lag = new HashMap<>();
        for (int p = 0; p < positions.length; p++) {
            if (positions[p] >= 0) {
                lag.put(p, topic.partitions[p].size() - positions[p]);
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
