package io.sluice.spi.support;

import io.sluice.Message;
import io.sluice.spi.PartitionListener;
import io.sluice.spi.RecordSink;
import io.sluice.spi.TransportConsumer;

import java.util.Collection;
import java.util.function.BooleanSupplier;
import java.util.function.Function;

/**
 * A {@link TransportConsumer} for a group member that reads its partitions itself, record by record from a position
 * (an in-process or embedded store, or a broker read through a local buffer). A subclass says how to open, read and
 * close one partition; this class does the rest: each {@link #poll} follows the group ({@link GroupMember}), hands
 * the sink what the member's fetchable partitions hold, one record from each partition in turn (round-robin) so
 * that none starves and a small budget still spreads over every ready partition, within the record and byte budget, and parks ({@link PollWaiter}) when there is nothing. The engine's
 * per-partition pauses, {@link #wakeup} and leaving the group on {@link #close} come with it. Offsets, commits and
 * lag stay the subclass's.
 *
 * <p>Thread ownership: owned by the subscription's poll thread, which makes every call, and on which the abstract
 * methods run, except {@link #wakeup} and {@link #signal}, which any thread may call, and {@link #hasRecords}, which
 * is read by the poll thread but against state other threads write.
 */
public abstract class GroupConsumer implements TransportConsumer {
    private final PollWaiter waiter = new PollWaiter();
    private final GroupMember member;
    private final int partitions;
    /** Kept in a field so that parking allocates nothing. */
    private final BooleanSupplier ready = this::readyToPoll;
    /** The partition the next fetch starts with: after the last one served, so every partition gets turns. */
    private int nextPartition;
    /** Counts fetches; {@code emptyIn[p] == fetches} marks a partition found empty in this fetch (no clearing). */
    private int fetches;
    private final int[] emptyIn;
    private boolean closed;

    /**
     * Joins the group; nothing is assigned before the first {@link #poll}. Subclass fields are not set yet when this
     * runs, so {@code join} must not read them.
     *
     * @param join     joins the group given the callback to call on every change (see {@link GroupMember})
     * @param listener the engine's partition listener
     */
    protected GroupConsumer(Function<Runnable, MembershipStore> join, PartitionListener listener) {
        this.member = new GroupMember(join, listener, new GroupMember.Partitions() {
            @Override
            public void open(int partition) {
                openPartition(partition);
            }

            @Override
            public void close(int partition) {
                closePartition(partition);
            }
        }, waiter::signal);
        this.partitions = member.partitions();
        this.emptyIn = new int[partitions];
    }

    /**
     * The lease of {@code partition} is this member's: position on it (the group's committed offset, or where the
     * start policy says). If it throws, the lease is released again and the exception leaves {@link #poll}.
     */
    protected abstract void openPartition(int partition);

    /** {@code partition} is no longer this member's (revoked after the engine let go, or the member left). */
    protected abstract void closePartition(int partition);

    /**
     * The record at {@code partition}'s position without moving past it, or null when none can be read now (the end
     * was reached, or the partition cannot be read and the subclass has reported why).
     */
    protected abstract Message peek(int partition) throws InterruptedException;

    /** The offset of the record {@link #peek} showed. */
    protected abstract long position(int partition);

    /** Moves past the record {@link #peek} showed. */
    protected abstract void advance(int partition);

    /**
     * True if {@code partition} has a record to read now. Read just before the poll thread parks, so it must only
     * read state that writers publish before they call {@link #signal} (a volatile end offset, say).
     */
    protected abstract boolean hasRecords(int partition);

    /** Called once by {@link #close} before the member leaves the group (for instance to stop being signalled). */
    protected void closing() {
    }

    /**
     * True while this member owns {@code partition}: commits for a partition it does not own must be refused (a
     * member that lost a partition is fenced, as Kafka fences commits of an old generation).
     */
    protected final boolean owns(int partition) {
        return member.owns(partition);
    }

    /** This member's id in the group, for logs. */
    protected final String memberId() {
        return member.memberId();
    }

    /** {@inheritDoc} Records are handed over with delivery attempt 1 and no ack handle. */
    @Override
    public final void poll(int maxRecords, long maxBytes, boolean oversizedFirst, long timeoutNanos, RecordSink sink)
            throws InterruptedException {
        waiter.enter();
        long deadline = System.nanoTime() + timeoutNanos;
        while (true) {
            member.rebalance();
            if (maxRecords == 0) {
                return;
            }
            int delivered = fetch(maxRecords, maxBytes, oversizedFirst, sink);
            if (waiter.consumeWakeup() | delivered > 0) { // a wakeup is used up either way
                return;
            }
            if (!waiter.await(deadline, ready)) {
                return;
            }
        }
    }

    /**
     * Takes one record from each fetchable partition in turn until the budget is spent or a whole turn found nothing.
     * A partition found empty is not peeked again in this fetch (peeking may read a file). Allocates nothing.
     */
    private int fetch(int maxRecords, long maxBytes, boolean oversizedFirst, RecordSink sink)
            throws InterruptedException {
        int n = partitions;
        if (n == 0) {
            return 0;
        }
        int round = ++fetches;
        int delivered = 0;
        long bytes = 0;
        int p = nextPartition;
        int idle = 0; // partitions visited in a row without a record: n of them end the fetch
        while (delivered < maxRecords && idle < n) {
            Message m = null;
            if (emptyIn[p] != round && member.isFetchable(p)) {
                m = peek(p);
                if (m == null) {
                    emptyIn[p] = round;
                }
            }
            if (m == null) {
                idle++;
            } else {
                int size = m.estimatedSize();
                if (bytes + size > maxBytes && !(oversizedFirst && delivered == 0)) {
                    nextPartition = p; // its record did not fit: it goes first next time
                    return delivered;
                }
                long offset = position(p);
                advance(p);
                sink.accept(m, p, offset, size, 1, null);
                bytes += size;
                delivered++;
                idle = 0;
            }
            p = p + 1 == n ? 0 : p + 1;
        }
        nextPartition = p;
        return delivered;
    }

    /** Whether parking would miss something: a record on a fetchable partition, or a group change to follow. */
    private boolean readyToPoll() {
        if (member.rebalanceRequested()) {
            return true;
        }
        for (int p = 0; p < partitions; p++) {
            if (member.isFetchable(p) && hasRecords(p)) {
                return true;
            }
        }
        return false;
    }

    /** Records were appended: a parked poll re-checks. Any thread; one volatile read while the poll thread is busy. */
    public final void signal() {
        waiter.signal();
    }

    @Override
    public final void wakeup() {
        waiter.wakeup();
    }

    /** {@inheritDoc} Kept by {@link GroupMember}: a revoked partition forgets its pause. */
    @Override
    public final void pausePartitions(Collection<Integer> partitions) {
        member.pause(partitions);
    }

    @Override
    public final void resumePartitions(Collection<Integer> partitions) {
        member.resume(partitions);
    }

    /** Leaves the group without committing anything (after {@link #closing}). Idempotent. */
    @Override
    public final void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            closing();
        } finally {
            member.leave();
        }
    }
}
