package io.sluice.memory;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A consumer group on one memory topic: its members, which member owns which partition, and the committed offsets.
 *
 * <p>Rebalancing is cooperative, as in Kafka's cooperative-sticky protocol: a membership change bumps the
 * generation; each member, on its next poll, gives up the partitions it no longer should own (after its engine has
 * drained and committed them) and takes those it should own once their previous owner has let go. A partition is
 * never owned by two members at once. Partition {@code p} belongs to member {@code p % members} in join order.
 *
 * <p>Thread-safe: membership and ownership change under one lock, never held while a member's callbacks run.
 */
final class MemoryGroup {
    final String name;
    private final MemoryTopic topic;
    private final ReentrantLock lock = new ReentrantLock();
    private final List<MemoryConsumer> members = new ArrayList<>();
    private final MemoryConsumer[] owners;
    private final AtomicLongArray committed;
    private long generation;

    MemoryGroup(MemoryTopic topic, String name) {
        this.topic = topic;
        this.name = name;
        this.owners = new MemoryConsumer[topic.partitions.length];
        this.committed = new AtomicLongArray(topic.partitions.length);
        for (int i = 0; i < owners.length; i++) {
            committed.set(i, -1);
        }
    }

    void join(MemoryConsumer member) {
        lock.lock();
        try {
            members.add(member);
            generation++;
        } finally {
            lock.unlock();
        }
        wakeMembers();
    }

    /** Removes {@code member} and frees its partitions; nothing is committed on its behalf. */
    void leave(MemoryConsumer member) {
        lock.lock();
        try {
            members.remove(member);
            for (int p = 0; p < owners.length; p++) {
                if (owners[p] == member) {
                    owners[p] = null;
                }
            }
            generation++;
        } finally {
            lock.unlock();
        }
        wakeMembers();
    }

    long generation() {
        lock.lock();
        try {
            return generation;
        } finally {
            lock.unlock();
        }
    }

    /** The partitions {@code member} should own in the current generation. */
    boolean[] target(MemoryConsumer member) {
        lock.lock();
        try {
            boolean[] target = new boolean[owners.length];
            int index = members.indexOf(member);
            if (index >= 0) {
                for (int p = index; p < owners.length; p += members.size()) {
                    target[p] = true;
                }
            }
            return target;
        } finally {
            lock.unlock();
        }
    }

    /** Gives up {@code partition} if {@code member} owns it. */
    void release(MemoryConsumer member, int partition) {
        lock.lock();
        try {
            if (owners[partition] == member) {
                owners[partition] = null;
            }
        } finally {
            lock.unlock();
        }
        wakeMembers();
    }

    /** Takes {@code partition} for {@code member} if nobody owns it; true if {@code member} owns it now. */
    boolean tryAcquire(MemoryConsumer member, int partition) {
        lock.lock();
        try {
            if (owners[partition] == null && members.contains(member)) {
                owners[partition] = member;
            }
            return owners[partition] == member;
        } finally {
            lock.unlock();
        }
    }

    boolean owns(MemoryConsumer member, int partition) {
        lock.lock();
        try {
            return owners[partition] == member;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Records {@code nextOffset} for {@code partition} if {@code member} still owns it; a member that lost the
     * partition is fenced, as Kafka fences commits from an old generation.
     *
     * @return false if the commit was refused
     */
    boolean commit(MemoryConsumer member, int partition, long nextOffset) {
        lock.lock();
        try {
            if (owners[partition] != member) {
                return false;
            }
            committed.accumulateAndGet(partition, nextOffset, Math::max);
            return true;
        } finally {
            lock.unlock();
        }
    }

    /** The committed next offset of {@code partition}, or -1. */
    long committed(int partition) {
        return committed.get(partition);
    }

    private void wakeMembers() {
        List<MemoryConsumer> snapshot;
        lock.lock();
        try {
            snapshot = List.copyOf(members);
        } finally {
            lock.unlock();
        }
        for (MemoryConsumer m : snapshot) {
            m.wakeForRebalance();
        }
    }

    MemoryTopic topic() {
        return topic;
    }
}
