package io.sluice.log.internal;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A consumer group on one topic within this process: its members, which member owns which partition, and its
 * durable committed offsets ({@link GroupOffsets}).
 *
 * <p>Rebalancing is cooperative, as in Kafka's cooperative-sticky protocol: a join or leave bumps the generation;
 * each member, on its next poll, gives up the partitions it should no longer own (after its engine drained them and
 * committed synchronously) and takes those it should own once their previous owner let go. A partition never has two
 * owners. Partition {@code p} belongs to member {@code p % members} in join order.
 *
 * <p>Thread-safe: membership and ownership change under one lock, never held during I/O or a member's callbacks.
 */
final class LogGroup {
    final String name;
    final GroupOffsets offsets;
    private final ReentrantLock lock = new ReentrantLock();
    private final List<LogConsumer> members = new ArrayList<>();
    private final LogConsumer[] owners;
    private long generation;

    LogGroup(String name, GroupOffsets offsets, int partitions) {
        this.name = name;
        this.offsets = offsets;
        this.owners = new LogConsumer[partitions];
    }

    void join(LogConsumer member) {
        lock.lock();
        try {
            members.add(member);
            generation++;
        } finally {
            lock.unlock();
        }
        wakeMembers();
    }

    /** Removes {@code member} and frees its partitions; nothing is committed for it. */
    void leave(LogConsumer member) {
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

    boolean hasMembers() {
        lock.lock();
        try {
            return !members.isEmpty();
        } finally {
            lock.unlock();
        }
    }

    long generation() {
        lock.lock();
        try {
            return generation;
        } finally {
            lock.unlock();
        }
    }

    /** The partitions {@code member} should own now. */
    boolean[] target(LogConsumer member) {
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

    void release(LogConsumer member, int partition) {
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

    /** Takes {@code partition} for {@code member} if it is free; true if {@code member} owns it now. */
    boolean tryAcquire(LogConsumer member, int partition) {
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

    /** True if some member owns {@code partition} now. */
    boolean isOwned(int partition) {
        lock.lock();
        try {
            return owners[partition] != null;
        } finally {
            lock.unlock();
        }
    }

    boolean owns(LogConsumer member, int partition) {
        lock.lock();
        try {
            return owners[partition] == member;
        } finally {
            lock.unlock();
        }
    }

    private void wakeMembers() {
        List<LogConsumer> snapshot;
        lock.lock();
        try {
            snapshot = List.copyOf(members);
        } finally {
            lock.unlock();
        }
        for (LogConsumer m : snapshot) {
            m.wakeForRebalance();
        }
    }
}
