package io.sluice.memory;

import io.sluice.spi.support.LocalMembership;

import java.util.concurrent.atomic.AtomicLongArray;

/**
 * A consumer group on one memory topic: its membership and partition leases ({@link LocalMembership}, which members
 * follow cooperatively through {@link io.sluice.spi.support.GroupMember}) and its committed offsets.
 *
 * <p>Thread-safe.
 */
final class MemoryGroup {
    final String name;
    final LocalMembership membership;
    private final AtomicLongArray committed;

    MemoryGroup(MemoryTopic topic, String name) {
        this.name = name;
        this.membership = new LocalMembership(topic.partitions.length);
        this.committed = new AtomicLongArray(topic.partitions.length);
        for (int i = 0; i < topic.partitions.length; i++) {
            committed.set(i, -1);
        }
    }

    /**
     * Records {@code nextOffset} for {@code partition}; the caller checked that it still holds the partition's lease
     * (a member that lost it is fenced, as Kafka fences commits from an old generation). Only the holder's own poll
     * thread gives a lease up, so it cannot move between that check and this write.
     */
    void commit(int partition, long nextOffset) {
        committed.accumulateAndGet(partition, nextOffset, Math::max);
    }

    /** The committed next offset of {@code partition}, or -1. */
    long committed(int partition) {
        return committed.get(partition);
    }
}
