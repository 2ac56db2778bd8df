package io.sluice.memory;

import io.sluice.Message;
import io.sluice.config.StartPosition;
import io.sluice.spi.ConsumerSpec;
import io.sluice.spi.PartitionListener;
import io.sluice.spi.RecordSink;
import io.sluice.spi.TransportConsumer;
import io.sluice.spi.support.GroupMember;
import io.sluice.spi.support.PollWaiter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.Map;
import java.util.function.BooleanSupplier;

/**
 * One member of a memory consumer group: follows the group's assignment (through {@link GroupMember}) and reads its
 * partitions from their positions.
 *
 * <p>Not thread-safe: owned by the subscription's poll thread, except {@link #wakeup()} and the {@link #waiter}'s
 * signal, which any thread may call.
 */
final class MemoryConsumer implements TransportConsumer, GroupMember.Partitions {
    private static final Logger log = LoggerFactory.getLogger(MemoryConsumer.class);

    private final MemoryTopic topic;
    private final MemoryGroup group;
    private final ConsumerSpec spec;
    /** Signalled by the topic when a message is appended and by the group when it changes. */
    final PollWaiter waiter = new PollWaiter();
    private final GroupMember member;
    /** Kept in a field so that parking allocates nothing. */
    private final BooleanSupplier ready = this::readyToPoll;
    /** Next offset to read per owned partition; -1 where not owned. */
    private final long[] positions;
    private int nextPartition;
    private boolean closed;

    MemoryConsumer(MemoryTopic topic, ConsumerSpec spec, PartitionListener listener) {
        this.topic = topic;
        this.spec = spec;
        this.group = topic.group(spec.group());
        this.positions = new long[topic.partitions.length];
        Arrays.fill(positions, -1);
        topic.register(this);
        this.member = new GroupMember(onChange -> group.membership.join(spec.memberId(), onChange), listener, this,
                waiter::signal);
    }

    @Override
    public void poll(int maxRecords, long maxBytes, boolean oversizedFirst, long timeoutNanos, RecordSink sink)
            throws InterruptedException {
        waiter.enter();
        long deadline = System.nanoTime() + timeoutNanos;
        while (true) {
            member.rebalance();
            if (maxRecords == 0) {
                return;
            }
            int delivered = fetch(maxRecords, maxBytes, oversizedFirst, sink);
            if (waiter.consumeWakeup() | delivered > 0) {
                return;
            }
            if (!waiter.await(deadline, ready)) {
                return;
            }
        }
    }

    private int fetch(int maxRecords, long maxBytes, boolean oversizedFirst, RecordSink sink) {
        int delivered = 0;
        long bytes = 0;
        int n = positions.length;
        for (int i = 0; i < n && delivered < maxRecords; i++) {
            int p = (nextPartition + i) % n;
            if (!member.isFetchable(p)) {
                continue;
            }
            long position = positions[p];
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

    /** Whether parking would miss something: records on a fetchable partition, or a group change to follow. */
    private boolean readyToPoll() {
        if (member.rebalanceRequested()) {
            return true;
        }
        for (int p = 0; p < positions.length; p++) {
            if (member.isFetchable(p) && positions[p] < topic.partitions[p].size()) {
                return true;
            }
        }
        return false;
    }

    @Override
    public void open(int partition) {
        positions[partition] = startPosition(partition);
    }

    @Override
    public void close(int partition) {
        positions[partition] = -1;
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
        group.commit(partition, start); // called with the lease just taken
        return start;
    }

    @Override
    public void pausePartitions(Collection<Integer> partitions) {
        member.pause(partitions);
    }

    @Override
    public void resumePartitions(Collection<Integer> partitions) {
        member.resume(partitions);
    }

    @Override
    public void wakeup() {
        waiter.wakeup();
    }

    @Override
    public void commit(Map<Integer, Long> nextOffsets, boolean sync) {
        for (Map.Entry<Integer, Long> e : nextOffsets.entrySet()) {
            if (member.owns(e.getKey())) {
                group.commit(e.getKey(), e.getValue());
            } else {
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
        member.leave();
    }
}
