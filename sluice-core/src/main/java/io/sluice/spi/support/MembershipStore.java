package io.sluice.spi.support;

import java.util.List;

/**
 * One member's view of its consumer group and the partition leases it may take: the part of a consumer group that a
 * transport keeps wherever its members can see each other. {@link GroupMember} runs cooperative hand-over on top of
 * it; a transport implements this interface (or uses {@link LocalMembership} when all members share one process).
 *
 * <h2>What an implementation keeps</h2>
 * <ul>
 * <li>The members: who is in the group now, in one order that every member sees alike (join order in one process;
 * sorted ids where members judge each other alive by heartbeats, as sluice-nats does in a key-value bucket).</li>
 * <li>One lease per partition: at most one member holds it at any time. A member takes it only when it is free or
 * its holder is no longer a member, and only the holder gives it up. This is what makes hand-over safe: the new
 * owner cannot start a partition before the old one finished and committed it.</li>
 * <li>A {@code generation} that moves whenever the member list may have changed or a lease this member holds was
 * taken away, and a {@code Runnable} (handed over when joining, see {@link GroupMember}) it calls after every such
 * change and after any lease was given up, so that members waiting for one try again.</li>
 * </ul>
 *
 * <h2>Distributed stores</h2>
 * Members in different processes keep the members and leases in the broker (a NATS key-value bucket, Redis keys):
 * heartbeats make a member's presence expire, leases are compare-and-set writes. Such a store must not block the
 * poll thread on the broker: {@link #members}, {@link #generation} and {@link #holds} answer from the store's local
 * view (kept current by a watch or a refresh thread), and {@link #tryAcquire} and {@link #release} may start their
 * write on the store's own thread and answer from the view: {@code tryAcquire} returns false until the write
 * succeeded and then calls the change {@code Runnable}, so that the next rebalance finds the lease held. A lease the
 * store finds taken by another member (this member was judged dead, or its lease time ran out) is reported by
 * {@link #holds} returning false; {@link GroupMember} then gives the partition up as lost. Heartbeats, liveness,
 * lease expiry and fencing by lease time stay the store's business.
 *
 * <p>How sluice-nats' group maps onto it (it does not use it yet): {@code members} is {@code GroupMembership.alive}
 * (sorted ids judged by heartbeats); {@code generation} moves on the watcher's significant events and when a member's
 * heartbeat goes stale; {@code tryAcquire} is true once the coordinator thread's compare-and-set lease write (and the
 * durable consumer) succeeded, and otherwise asks that thread to try; {@code holds} is false once the watch shows the
 * lease replaced or this member's lease time ran out (the poll thread then gives the partition up as lost);
 * {@code release} hands the lease to the coordinator thread, which gives it up once the naks the transport sent in
 * {@link GroupMember.Partitions#close} were confirmed. The transport's {@link GroupMember.Partitions#canLetGo} is false
 * while a pull request sent under the lease is outstanding, so no pull outlives the ownership it was sent under, and
 * its {@code open} holds the first fetch when the previous holder may have left messages unacknowledged.
 *
 * <p>Thread ownership: every method is called by the owning member's poll thread; an implementation's own threads
 * (watchers, heartbeats) only call the change {@code Runnable}.
 */
public interface MembershipStore {
    /** This member's id, as it appears in {@link #members()}. */
    String memberId();

    /** The partitions of the topic, numbered from 0; fixed for the store's life. */
    int partitions();

    /**
     * The group's current members in assignment order, the same order at every member; includes this member until
     * {@link #leave}. A fresh list the caller may keep.
     */
    List<String> members();

    /**
     * A number that changes whenever {@link #members()} may have changed or a lease this member holds was lost.
     * {@link GroupMember} skips recomputing the assignment while it is unchanged and nothing is pending.
     */
    long generation();

    /**
     * Takes the lease of {@code partition} for this member if nobody holds it (or its holder is no longer a member).
     *
     * @return true if this member holds it now (also when it held it already); false while another member holds it
     *         or while a remote write is still under way
     */
    boolean tryAcquire(int partition);

    /** True while this member holds the lease of {@code partition} as far as the store's view shows. */
    boolean holds(int partition);

    /**
     * Gives up this member's lease of {@code partition}, once the transport let go of it (for a revoked partition,
     * after the engine drained and committed it). A lease another member holds is left alone.
     */
    void release(int partition);

    /** Leaves the group: gives up every lease this member holds (nothing is committed for it) and tells the others. */
    void leave();
}
