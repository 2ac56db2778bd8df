package io.sluice.spi.support;

import io.sluice.spi.PartitionListener;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.function.Function;

/**
 * Cooperative hand-over for one group member, over any {@link MembershipStore}: the member's side of a consumer group
 * that a transport consumer would otherwise write itself. On each {@link #rebalance} it brings what the member reads
 * in line with the group, as Kafka's cooperative-sticky protocol does:
 * <ol>
 * <li>partitions whose lease the store shows lost are given up at once: {@link PartitionListener#lost}, then
 * {@link Partitions#close};</li>
 * <li>partitions that should move to another member stop being fetchable; once the transport can let go of them
 * ({@link Partitions#canLetGo}), {@link PartitionListener#revoked} runs (the engine drains and commits them), then
 * {@link Partitions#close}, then the lease is released;</li>
 * <li>partitions that should come to this member are taken as soon as their lease is free: the lease, then
 * {@link Partitions#open} (positioning at the committed offset), then {@link PartitionListener#assigned}. One whose
 * previous owner has not let go yet is tried again when the store reports a change.</li>
 * </ol>
 * So a partition is never read by two members at once, and only moves after its previous owner committed it.
 *
 * <p>It also keeps the engine's per-partition pauses ({@code TransportConsumer.pausePartitions}): a paused partition
 * is not {@link #isFetchable fetchable}; a revoked or lost one is forgotten, and one assigned (again) starts unpaused.
 *
 * <p>What a transport implements: {@link Partitions} (open and close its read positions) and, for a group that spans
 * processes, a {@link MembershipStore}; what it gets: the assignment, the order of callbacks and lease moves above,
 * and the pause bookkeeping. Its poll loop calls {@link #rebalance} on each turn (cheap when nothing changed), reads
 * only partitions that are {@link #isFetchable}, and counts {@link #rebalanceRequested} among its reasons not to park
 * (the store's change callback wakes it through the {@code wake} given here, typically {@link PollWaiter#signal}).
 *
 * <p>Thread ownership: owned by the consumer's poll thread, which makes every call, except
 * {@link #requestRebalance}, which any thread may call. The listener and {@link Partitions} run on the poll thread,
 * inside {@link #rebalance} or {@link #leave}.
 */
public final class GroupMember {
    /** What the transport does when a partition becomes this member's or stops being it. Poll thread. */
    public interface Partitions {
        /**
         * The lease of {@code partition} is this member's: position on it (the group's committed offset, or where
         * the start policy says). If it throws, the lease is released again, the partitions opened before it in the
         * same rebalance are announced to the listener, the exception leaves {@link #rebalance}, and the next
         * {@link #rebalance} tries again.
         */
        void open(int partition);

        /** {@code partition} is no longer this member's (revoked after the engine let go, lost, or left): forget it. */
        void close(int partition);

        /**
         * False while the transport cannot let go of {@code partition} yet, though it should move (for instance a
         * pull request sent under its lease is still outstanding). The partition stays unfetchable meanwhile; the
         * transport calls {@link #requestRebalance} once it can. Default: always true.
         */
        default boolean canLetGo(int partition) {
            return true;
        }
    }

    private final PartitionListener listener;
    private final Partitions partitions;
    private final Runnable wake;
    private final MembershipStore store;
    private final String memberId;
    // Poll-thread state.
    private final boolean[] owned;
    private final boolean[] paused;
    private final boolean[] revoking;
    private long seenGeneration;
    private boolean pending = true;
    private boolean left;
    /** Set by the store's change callback on any thread; read by the poll loop before it parks. */
    private volatile boolean requested = true;

    /**
     * Joins the group. Nothing is assigned until the first {@link #rebalance}.
     *
     * @param join       joins the group given the callback the store must call on every change (for
     *                   {@link LocalMembership}: {@code onChange -> group.join(name, onChange)})
     * @param listener   told of assignments, revocations and losses (the engine)
     * @param partitions the transport's positions
     * @param wake       wakes the poll thread after a change was requested, typically {@link PollWaiter#signal}
     */
    public GroupMember(Function<Runnable, MembershipStore> join, PartitionListener listener, Partitions partitions,
                       Runnable wake) {
        this.listener = listener;
        this.partitions = partitions;
        this.wake = wake;
        this.store = join.apply(this::requestRebalance);
        this.memberId = store.memberId();
        int n = store.partitions();
        this.owned = new boolean[n];
        this.paused = new boolean[n];
        this.revoking = new boolean[n];
        this.seenGeneration = store.generation() - 1; // differs from the store's, so the first rebalance computes
    }

    /** The partitions of the topic. */
    public int partitions() {
        return owned.length;
    }

    /** The store's id of this member. */
    public String memberId() {
        return memberId;
    }

    /**
     * Asks the poll thread to rebalance: called by the store when the group changed, and by a transport whose
     * {@link Partitions#canLetGo} turned true. Any thread.
     */
    public void requestRebalance() {
        requested = true;
        Runnable w = wake;
        if (w != null) { // null only while the constructor is still joining: the first rebalance comes anyway
            w.run();
        }
    }

    /** True while a requested rebalance has not run: the poll loop must not park. Any thread. */
    public boolean rebalanceRequested() {
        return requested;
    }

    /**
     * Brings this member's partitions in line with the group (see the class doc); runs the listener and
     * {@link Partitions} callbacks. Does nothing, without locking or allocating, unless a change was requested or an
     * earlier rebalance is unfinished.
     */
    public void rebalance() {
        if (!requested && !pending || left) {
            return;
        }
        requested = false;
        long generation = store.generation();
        if (generation == seenGeneration && !pending) {
            return;
        }
        boolean complete = true;
        List<Integer> lost = null;
        for (int p = 0; p < owned.length; p++) {
            if (owned[p] && !store.holds(p)) {
                (lost == null ? lost = new ArrayList<>() : lost).add(p);
            }
        }
        if (lost != null) {
            listener.lost(lost);
            for (int p : lost) {
                forget(p);
            }
        }
        boolean[] target = Assignments.roundRobin(store.members(), memberId, owned.length);
        List<Integer> revoked = null;
        for (int p = 0; p < owned.length; p++) {
            if (!owned[p]) {
                continue;
            }
            revoking[p] = !target[p];
            if (revoking[p]) {
                if (partitions.canLetGo(p)) {
                    (revoked == null ? revoked = new ArrayList<>() : revoked).add(p);
                } else {
                    complete = false; // stays unfetchable; the transport asks again when it can let go
                }
            }
        }
        if (revoked != null) {
            listener.revoked(revoked);
            for (int p : revoked) {
                forget(p);
                store.release(p);
            }
        }
        List<Integer> assigned = null;
        for (int p = 0; p < owned.length; p++) {
            if (!target[p] || owned[p]) {
                continue;
            }
            if (!store.tryAcquire(p)) {
                complete = false; // its previous owner has not let go yet
                continue;
            }
            try {
                partitions.open(p);
            } catch (RuntimeException | Error e) {
                store.release(p);
                // The partition is free and targeted here: without pending nobody would read it until the group
                // changes. Those opened before it in this loop are owned and must reach the listener.
                pending = true;
                if (assigned != null) {
                    listener.assigned(assigned);
                }
                throw e;
            }
            owned[p] = true;
            (assigned == null ? assigned = new ArrayList<>() : assigned).add(p);
        }
        if (assigned != null) {
            listener.assigned(assigned);
        }
        seenGeneration = generation;
        pending = !complete;
    }

    private void forget(int p) {
        owned[p] = false;
        paused[p] = false;
        revoking[p] = false;
        partitions.close(p);
    }

    /** True while this member owns {@code partition} (from {@code open} until {@code close}). */
    public boolean owns(int partition) {
        return partition >= 0 && partition < owned.length && owned[partition];
    }

    /** True if the transport may fetch {@code partition}: owned, not paused, not on its way to another member. */
    public boolean isFetchable(int partition) {
        return owned[partition] && !paused[partition] && !revoking[partition];
    }

    /** Pauses owned partitions among {@code partitions}; others are ignored. Idempotent. */
    public void pause(Collection<Integer> partitions) {
        for (int p : partitions) {
            if (owns(p)) {
                paused[p] = true;
            }
        }
    }

    /** Resumes {@code partitions} after {@link #pause}. Idempotent. */
    public void resume(Collection<Integer> partitions) {
        for (int p : partitions) {
            if (owns(p)) {
                paused[p] = false;
            }
        }
    }

    /** True while {@code partition} is owned and paused. */
    public boolean isPaused(int partition) {
        return owns(partition) && paused[partition];
    }

    /**
     * Leaves the group without committing anything and without calling the listener: closes every owned partition,
     * then gives up the membership and its leases. Idempotent.
     */
    public void leave() {
        if (left) {
            return;
        }
        left = true;
        for (int p = 0; p < owned.length; p++) {
            if (owned[p]) {
                forget(p);
            }
        }
        store.leave();
    }
}
