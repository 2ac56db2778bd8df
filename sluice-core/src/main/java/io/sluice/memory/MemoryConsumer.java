package io.sluice.memory;

import io.sluice.Message;
import io.sluice.config.StartPosition;
import io.sluice.spi.ConsumerSpec;
import io.sluice.spi.PartitionListener;
import io.sluice.spi.support.GroupConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * One member of a memory consumer group: follows the group's assignment and reads its partitions from their
 * positions; the poll loop, hand-over and pauses are {@link GroupConsumer}'s.
 *
 * <p>Not thread-safe: owned by the subscription's poll thread, except {@link #wakeup()} and {@link #signal()}, which
 * any thread may call.
 */
final class MemoryConsumer extends GroupConsumer {
    private static final Logger log = LoggerFactory.getLogger(MemoryConsumer.class);

    private final MemoryTopic topic;
    private final MemoryGroup group;
    private final ConsumerSpec spec;
    /** Next offset to read per owned partition; -1 where not owned. */
    private final long[] positions;

    MemoryConsumer(MemoryTopic topic, ConsumerSpec spec, PartitionListener listener) {
        super(onChange -> topic.group(spec.group()).membership.join(spec.memberId(), onChange), listener);
        this.topic = topic;
        this.spec = spec;
        this.group = topic.group(spec.group());
        this.positions = new long[topic.partitions.length];
        Arrays.fill(positions, -1);
        topic.consumers.add(this);
    }

    @Override
    protected Message peek(int partition) {
        long position = positions[partition];
        MemoryPartition p = topic.partitions[partition];
        return position < p.size() ? p.get(position) : null;
    }

    @Override
    protected long position(int partition) {
        return positions[partition];
    }

    @Override
    protected void advance(int partition) {
        positions[partition]++;
    }

    @Override
    protected boolean hasRecords(int partition) {
        return positions[partition] < topic.partitions[partition].size();
    }

    @Override
    protected void openPartition(int partition) {
        positions[partition] = startPosition(partition);
    }

    @Override
    protected void closePartition(int partition) {
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
    public void commit(Map<Integer, Long> nextOffsets, boolean sync) {
        for (Map.Entry<Integer, Long> e : nextOffsets.entrySet()) {
            if (owns(e.getKey())) {
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
    protected void closing() {
        topic.consumers.remove(this);
    }
}
