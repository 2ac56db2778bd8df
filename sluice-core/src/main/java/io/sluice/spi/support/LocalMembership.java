package io.sluice.spi.support;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A consumer group whose members all live in this process (the memory transport, the embedded log): the member list
 * in join order and one lease per partition, behind one lock. Each {@link #join} gives a member its
 * {@link MembershipStore}; {@link GroupMember} does the hand-over on top.
 *
 * <p>Partition {@code p} belongs to the member at {@code p % members} in join order ({@link Assignments#roundRobin}).
 * A join or leave moves the generation and tells every member; a released lease tells every member too, so the one
 * waiting for it takes it.
 *
 * <p>Thread-safe: membership and leases change under one {@link ReentrantLock} (not a monitor, so a virtual poll
 * thread never pins its carrier here), which is never held while a member's change callback runs.
 */
public final class LocalMembership {
    private final ReentrantLock lock = new ReentrantLock();
    private final List<Member> members = new ArrayList<>();
    private final Member[] holders;
    private final AtomicLong joins = new AtomicLong();
    private long generation;

    /** A group over {@code partitions} partitions, with no members yet. */
    public LocalMembership(int partitions) {
        if (partitions <= 0) {
            throw new IllegalArgumentException("partitions must be positive, was " + partitions);
        }
        this.holders = new Member[partitions];
    }

    /**
     * Adds a member. Its id is {@code name} made unique in this group, since two members of a process may share a
     * name.
     *
     * @param onChange called, on whichever thread changed the group, after a member joined or left or a lease was
     *                 given up; must be quick and must not call back into the group
     */
    public MembershipStore join(String name, Runnable onChange) {
        Member m = new Member(name + "#" + joins.incrementAndGet(), onChange);
        lock.lock();
        try {
            members.add(m);
            generation++;
        } finally {
            lock.unlock();
        }
        notifyMembers();
        return m;
    }

    /** True while some member holds the lease of {@code partition}. */
    public boolean isHeld(int partition) {
        lock.lock();
        try {
            return holders[partition] != null;
        } finally {
            lock.unlock();
        }
    }

    /** True while the group has members. */
    public boolean hasMembers() {
        lock.lock();
        try {
            return !members.isEmpty();
        } finally {
            lock.unlock();
        }
    }

    private void notifyMembers() {
        Member[] snapshot;
        lock.lock();
        try {
            snapshot = members.toArray(new Member[0]);
        } finally {
            lock.unlock();
        }
        for (Member m : snapshot) {
            m.onChange.run();
        }
    }

    /** One member's handle: a {@link MembershipStore} over the shared table. Thread-safe like the group. */
    private final class Member implements MembershipStore {
        private final String id;
        private final Runnable onChange;

        Member(String id, Runnable onChange) {
            this.id = id;
            this.onChange = onChange;
        }

        @Override
        public String memberId() {
            return id;
        }

        @Override
        public int partitions() {
            return holders.length;
        }

        @Override
        public List<String> members() {
            lock.lock();
            try {
                List<String> ids = new ArrayList<>(members.size());
                for (Member m : members) {
                    ids.add(m.id);
                }
                return ids;
            } finally {
                lock.unlock();
            }
        }

        @Override
        public long generation() {
            lock.lock();
            try {
                return generation;
            } finally {
                lock.unlock();
            }
        }

        @Override
        public boolean tryAcquire(int partition) {
            lock.lock();
            try {
                if (holders[partition] == null && members.contains(this)) {
                    holders[partition] = this;
                }
                return holders[partition] == this;
            } finally {
                lock.unlock();
            }
        }

        @Override
        public boolean holds(int partition) {
            lock.lock();
            try {
                return holders[partition] == this;
            } finally {
                lock.unlock();
            }
        }

        @Override
        public void release(int partition) {
            lock.lock();
            try {
                if (holders[partition] == this) {
                    holders[partition] = null;
                }
            } finally {
                lock.unlock();
            }
            notifyMembers();
        }

        @Override
        public void leave() {
            lock.lock();
            try {
                if (!members.remove(this)) {
                    return;
                }
                for (int p = 0; p < holders.length; p++) {
                    if (holders[p] == this) {
                        holders[p] = null;
                    }
                }
                generation++;
            } finally {
                lock.unlock();
            }
            notifyMembers();
        }

        @Override
        public String toString() {
            return id;
        }
    }
}
