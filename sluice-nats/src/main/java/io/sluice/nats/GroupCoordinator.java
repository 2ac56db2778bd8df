package io.sluice.nats;

import io.nats.client.Connection;
import io.nats.client.JetStreamApiException;
import io.sluice.spi.ConsumerSpec;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * The group side of one JetStream group member: everything that talks to the key-value bucket or sets up durable
 * consumers, off the subscription's poll thread, so that slow JetStream calls never hold up dispatch, acks or
 * in-progress acks, and so that a poll thread busy in a long rebalance callback still keeps its membership.
 *
 * <p>Two platform threads:
 * <ul>
 * <li>the <em>keep-alive</em> thread writes a heartbeat every {@code nats.group.heartbeatInterval} and, after each
 * stored one, extends the member's lease time (see {@link #leaseValid}); it also runs the consumer's in-progress
 * sweep while the poll thread is inside a callback;</li>
 * <li>the <em>coordinator</em> thread takes, refreshes and gives up partition leases, creates the durable consumers,
 * and tells the poll thread what changed through {@link Event}s; the poll thread answers with {@link #released} and
 * {@link #dropped}.</li>
 * </ul>
 *
 * <p>Lease time. Other members judge this one dead when they have not seen a new heartbeat for
 * {@code sessionTimeout} by their own clocks, which can only start after this member sent it. So this member may fetch
 * until {@code sentAt + sessionTimeout - pullExpiry - heartbeatInterval} of its last stored heartbeat: a pull sent
 * before then has expired before anyone else may take the partition. When that time passes (the process stalled, or
 * the bucket or connection failed for that long) the poll thread stops fetching and gives its partitions up as lost.
 *
 * <p>Thread-safe as described: {@link #nextEvent} and the answers are for the poll thread; the rest is internal.
 */
final class GroupCoordinator {
    private static final Logger log = LoggerFactory.getLogger(GroupCoordinator.class);
    /** Leases are rewritten this often; the group bucket expires entries a day after their last write. */
    private static final long LEASE_REFRESH_NANOS = TimeUnit.HOURS.toNanos(1);

    /** What the poll thread must do about a partition. */
    record Event(Kind kind, int partition, int epoch, long holdNanos) {
        enum Kind {
            /** The lease is this member's: start fetching, after {@code holdNanos} if not 0. */
            ASSIGN,
            /** The partition should move: stop fetching, let the engine finish, release, then answer {@link #released}. */
            REVOKE,
            /** Another member took the lease: give the partition up at once, without waiting for anything. */
            LOST
        }
    }

    private enum LeaseState { FREE, OWNED, REVOKING, AWAITING_RELEASES, RELEASE_CLEAN, RELEASE_DIRTY }

    private final NatsTransport transport;
    private final Connection nc;
    private final NatsSettings settings;
    private final StreamRegistry streams;
    private final StreamRegistry.TopicStream ts;
    private final ConsumerSpec spec;
    private final GroupMembership membership;
    private final Runnable wakePollThread;
    private final Runnable progressSweep;
    private final long heartbeatNanos;
    private final long leaseNanos;
    private final long ackWaitNanos;
    private final ConcurrentLinkedQueue<Event> events = new ConcurrentLinkedQueue<>();
    /** Partitions taken during the current rebalance, posted together at its end; coordinator thread only. */
    private final List<Event> assigned = new ArrayList<>();
    private final LinkedBlockingQueue<Runnable> commands = new LinkedBlockingQueue<>();
    private final Thread keepAlive;
    private final Thread coordinator;

    // Coordinator-thread state.
    private final LeaseState[] state;
    private final long[] myRevision;
    private final int[] epoch;
    private final long[] refreshAt;
    private final CompletableFuture<?>[] releases;
    private long seenReconnects;

    // Shared.
    private volatile long leaseValidUntil;
    private volatile boolean started;
    private volatile int inFlightBound;
    private volatile boolean stopping;
    private volatile boolean leaving;
    private volatile CompletableFuture<Void> leaveReleases;

    GroupCoordinator(NatsTransport transport, StreamRegistry.TopicStream ts, ConsumerSpec spec, String memberId,
                     Runnable wakePollThread, Runnable progressSweep) {
        this.transport = transport;
        this.nc = transport.connection();
        this.settings = transport.settings();
        this.streams = transport.streams();
        this.ts = ts;
        this.spec = spec;
        this.wakePollThread = wakePollThread;
        this.progressSweep = progressSweep;
        this.heartbeatNanos = settings.heartbeatInterval.toNanos();
        this.leaseNanos = settings.sessionTimeout.toNanos() - settings.pullExpiry.toNanos() - heartbeatNanos;
        this.ackWaitNanos = settings.ackWait.toNanos();
        int n = ts.partitions();
        this.state = new LeaseState[n];
        Arrays.fill(state, LeaseState.FREE);
        this.myRevision = new long[n];
        this.epoch = new int[n];
        this.refreshAt = new long[n];
        this.releases = new CompletableFuture<?>[n];
        this.membership = new GroupMembership(transport.groupBucket(), spec.topic(), spec.group(), memberId, n,
                settings.sessionTimeout.toNanos(), this::wake);
        String name = spec.topic() + "-" + memberId;
        this.keepAlive = Thread.ofPlatform().daemon(true).name("sluice-nats-keepalive-" + name)
                .unstarted(this::runKeepAlive);
        this.coordinator = Thread.ofPlatform().daemon(true).name("sluice-nats-group-" + name)
                .unstarted(this::runCoordinator);
    }

    /** Joins the group (first heartbeat, watch) and starts both threads. Blocking; on the constructing thread. */
    void start() throws IOException, JetStreamApiException, InterruptedException {
        long sent = System.nanoTime();
        membership.join();
        leaseValidUntil = sent + leaseNanos;
        seenReconnects = transport.reconnects();
        keepAlive.start();
        coordinator.start();
    }

    String memberId() {
        return membership.memberId();
    }

    // ------------------------------------------------------------------ poll thread side

    /** The poll thread has polled: leases may be taken now that the in-flight bound is known. */
    void pollStarted(int bound) {
        if (bound > inFlightBound) {
            inFlightBound = bound;
        }
        if (!started) {
            started = true;
            wake();
        }
    }

    /** The next event for the poll thread, or null. */
    Event nextEvent() {
        return events.poll();
    }

    boolean hasEvents() {
        return !events.isEmpty();
    }

    /** True while this member may fetch and dispatch: its last stored heartbeat is recent enough (see class doc). */
    boolean leaseValid(long nowNanos) {
        return nowNanos - leaseValidUntil < 0;
    }

    /**
     * The durable consumers' {@code MaxAckPending}: {@code nats.consumer.maxAckPending}, or twice the in-flight
     * bound, leaving as much again for messages waiting on the server for a delayed redelivery.
     */
    int maxAckPending() {
        return settings.maxAckPending > 0 ? settings.maxAckPending : 2 * bound();
    }

    /** How many messages of one partition may wait on the server for a delayed redelivery. */
    int maxDelayedPerPartition() {
        return Math.max(0, maxAckPending() - bound());
    }

    private int bound() {
        int b = inFlightBound;
        return b > 0 ? b : settings.maxBatch; // paused from the start: no bound seen yet
    }

    /**
     * The poll thread has let go of a revoked partition and sent the naks of its unfinished messages; the lease is
     * given up once {@code releases} completes (deleted if all were confirmed, marked unconfirmed otherwise).
     */
    void released(int partition, int partitionEpoch, CompletableFuture<Void> releases) {
        commands.add(() -> onReleased(partition, partitionEpoch, releases));
    }

    /** The poll thread gave a partition up without confirmed releases (its lease time ran out). */
    void dropped(int partition, int partitionEpoch) {
        commands.add(() -> onDropped(partition, partitionEpoch));
    }

    /**
     * Leaves the group: stops heartbeats, waits (bounded) for {@code releases}, gives every lease up (deleted if the
     * releases were confirmed), deletes the heartbeat and stops the threads. Blocking; called by the poll thread on
     * close.
     */
    void leave(CompletableFuture<Void> releases) {
        stopping = true;
        LockSupport.unpark(keepAlive);
        join(keepAlive, heartbeatNanos + settings.publishAckTimeout.toNanos());
        leaveReleases = releases;
        leaving = true;
        wake();
        join(coordinator, 3 * settings.publishAckTimeout.toNanos() + TimeUnit.SECONDS.toNanos(5));
        if (coordinator.isAlive()) {
            log.warn("Member {} of group {} on topic {} did not finish leaving in time; its leases free after the "
                    + "session timeout", memberId(), spec.group(), spec.topic());
        }
    }

    /** Stops both threads without touching the bucket (the consumer failed to start). */
    void abort() {
        stopping = true;
        leaving = true;
        leaveReleases = null;
        keepAlive.interrupt();
        coordinator.interrupt();
        membership.close();
    }

    private static void join(Thread t, long nanos) {
        if (!t.isAlive()) {
            return;
        }
        try {
            t.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(nanos)));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void wake() {
        commands.offer(() -> { });
    }

    private void post(Event e) {
        events.add(e);
        wakePollThread.run();
    }

    // ------------------------------------------------------------------ keep-alive thread

    private void runKeepAlive() {
        while (!stopping) {
            long sent = System.nanoTime();
            if (nc.getStatus() == Connection.Status.CONNECTED && membership.heartbeat()) {
                long until = sent + leaseNanos;
                if (until - leaseValidUntil > 0) {
                    leaseValidUntil = until;
                }
            }
            try {
                progressSweep.run();
            } catch (RuntimeException e) {
                log.warn("In-progress sweep of topic {} group {} failed", spec.topic(), spec.group(), e);
            }
            long next = sent + heartbeatNanos;
            while (!stopping && next - System.nanoTime() > 0) {
                LockSupport.parkNanos(this, next - System.nanoTime());
                if (Thread.interrupted()) {
                    return;
                }
            }
        }
    }

    // ------------------------------------------------------------------ coordinator thread

    private void runCoordinator() {
        long nextTick = System.nanoTime();
        try {
            while (!leaving) {
                Runnable command = commands.poll(Math.max(0, nextTick - System.nanoTime()), TimeUnit.NANOSECONDS);
                while (command != null) {
                    command.run();
                    command = commands.poll();
                }
                if (leaving) {
                    break;
                }
                long now = System.nanoTime();
                rebalance(now);
                if (now - nextTick >= 0) {
                    nextTick = now + heartbeatNanos;
                }
            }
            if (leaveReleases != null) {
                finishLeaving();
            }
        } catch (InterruptedException e) {
            // aborted
        } catch (RuntimeException | Error e) {
            log.error("Group coordinator of topic {} group {} failed; this member stops taking partitions",
                    spec.topic(), spec.group(), e);
        }
    }

    /**
     * Brings leases in line with the group's view: gives up partitions another member took, asks the poll thread to
     * revoke those that should move, finishes lease releases, and takes leases of target partitions.
     */
    private void rebalance(long now) {
        if (nc.getStatus() != Connection.Status.CONNECTED) {
            return; // key-value calls would only wait for their timeout
        }
        long reconnects = transport.reconnects();
        if (reconnects != seenReconnects) {
            // While disconnected this member saw no heartbeats: that says nothing about the others.
            seenReconnects = reconnects;
            membership.resetLiveness(now);
        }
        boolean[] target = membership.target(now);
        try {
            for (int p = 0; p < state.length; p++) {
                switch (state[p]) {
                    case OWNED -> {
                        if (membership.lostSince(p, myRevision[p])) {
                            lose(p, "took it over");
                        } else if (!target[p]) {
                            state[p] = LeaseState.REVOKING;
                            post(new Event(Event.Kind.REVOKE, p, epoch[p], 0));
                        } else if (now - refreshAt[p] >= 0) {
                            refresh(p, now);
                        }
                    }
                    case REVOKING -> {
                        if (membership.lostSince(p, myRevision[p])) {
                            lose(p, "took it over while it was being revoked");
                        }
                    }
                    case AWAITING_RELEASES -> {
                        // onReleasesDone moves on
                    }
                    case RELEASE_CLEAN, RELEASE_DIRTY -> {
                        if (membership.release(p, myRevision[p], state[p] == LeaseState.RELEASE_CLEAN)) {
                            state[p] = LeaseState.FREE;
                        }
                    }
                    case FREE -> {
                        if (target[p] && started && !stopping && leaseValid(now)) {
                            acquire(p, now);
                        }
                    }
                }
            }
        } finally {
            postAssigned(); // also those taken before something failed: their state is OWNED already
        }
    }

    private void lose(int p, String how) {
        state[p] = LeaseState.FREE;
        post(new Event(Event.Kind.LOST, p, epoch[p], 0));
        GroupMembership.Lease l = membership.lease(p);
        log.warn("Member {} lost partition {} of topic {} group {}: {} {}", memberId(), p, spec.topic(), spec.group(),
                l == null || l.holder() == null ? "its lease was deleted or released by another member;"
                        : "member " + l.holder(), how);
    }

    private void refresh(int p, long now) {
        long revision = membership.refresh(p, myRevision[p]);
        if (revision == GroupMembership.LOST) {
            lose(p, "replaced its lease");
        } else if (revision != GroupMembership.UNKNOWN) {
            myRevision[p] = revision;
            refreshAt[p] = now + LEASE_REFRESH_NANOS;
        }
    }

    private void acquire(int p, long now) {
        GroupMembership.Acquired a = membership.acquire(p, now);
        if (a == null) {
            return; // its holder has not let go yet: the watch or the next tick tries again
        }
        long unacked;
        try {
            unacked = streams.ensureConsumer(ts, spec.group(), p, spec.startFrom(), maxAckPending());
        } catch (IOException | JetStreamApiException | RuntimeException e) {
            log.warn("Could not prepare the durable consumer of partition {} of topic {} group {}: {}; letting the "
                    + "partition go for now", p, spec.topic(), spec.group(), e.toString());
            if (!membership.release(p, a.revision(), true)) {
                myRevision[p] = a.revision();
                state[p] = LeaseState.RELEASE_CLEAN; // nothing was fetched under this lease
            }
            return;
        }
        myRevision[p] = a.revision();
        refreshAt[p] = now + LEASE_REFRESH_NANOS;
        state[p] = LeaseState.OWNED;
        epoch[p]++;
        long hold = 0;
        if (a.mayHaveUnacked() && unacked > 0) {
            // Its previous holder stopped without releasing them: by one ack wait from now the server has queued
            // them for redelivery, and queued redeliveries go out before newer messages, so keys stay in order.
            hold = ackWaitNanos;
            log.info("Member {} took partition {} of topic {} group {} over from {} with {} messages unacknowledged; "
                            + "fetching starts in {} ms, once the server has queued them for redelivery, so keys stay in "
                            + "order", memberId(), p, spec.topic(), spec.group(),
                    a.previous() == null ? "a member that let go without confirmed releases" : a.previous(), unacked,
                    TimeUnit.NANOSECONDS.toMillis(hold));
        } else if (a.previous() != null) {
            log.info("Member {} took partition {} of topic {} group {} over from {}, whose heartbeats stopped",
                    memberId(), p, spec.topic(), spec.group(), a.previous());
        }
        assigned.add(new Event(Event.Kind.ASSIGN, p, epoch[p], hold));
    }

    /**
     * Hands the partitions taken in one rebalance to the poll thread together. One at a time, the first would get a
     * pull request for all of the engine's room and the others none until that request expired (a pull holds its
     * room until it is filled or expires, even on an empty partition).
     */
    private void postAssigned() {
        if (assigned.isEmpty()) {
            return;
        }
        events.addAll(assigned);
        assigned.clear();
        wakePollThread.run();
    }

    private void onReleased(int p, int partitionEpoch, CompletableFuture<Void> partitionReleases) {
        if (state[p] != LeaseState.REVOKING || epoch[p] != partitionEpoch) {
            return; // lost meanwhile: the lease is someone else's
        }
        state[p] = LeaseState.AWAITING_RELEASES;
        releases[p] = partitionReleases;
        partitionReleases.whenComplete((ok, error) -> commands.add(() -> onReleasesDone(p, partitionEpoch, error == null)));
    }

    private void onReleasesDone(int p, int partitionEpoch, boolean confirmed) {
        if (state[p] != LeaseState.AWAITING_RELEASES || epoch[p] != partitionEpoch) {
            return;
        }
        releases[p] = null;
        if (!confirmed) {
            log.info("Not every release of partition {} of topic {} group {} was confirmed by the server; its lease is "
                    + "marked so the next owner waits one ack wait before fetching", p, spec.topic(), spec.group());
        }
        state[p] = confirmed ? LeaseState.RELEASE_CLEAN : LeaseState.RELEASE_DIRTY;
        if (membership.release(p, myRevision[p], confirmed)) {
            state[p] = LeaseState.FREE;
        }
        // else the next rebalance tries again
    }

    private void onDropped(int p, int partitionEpoch) {
        if ((state[p] == LeaseState.OWNED || state[p] == LeaseState.REVOKING) && epoch[p] == partitionEpoch) {
            state[p] = LeaseState.RELEASE_DIRTY; // released once the bucket answers again, unless taken meanwhile
        }
    }

    private void finishLeaving() {
        long deadline = System.nanoTime() + settings.publishAckTimeout.toNanos() + TimeUnit.SECONDS.toNanos(1);
        boolean confirmed = await(leaveReleases, deadline);
        // Answers to earlier revocations that are still on their way.
        Runnable command;
        while ((command = commands.poll()) != null) {
            command.run();
        }
        for (int p = 0; p < state.length; p++) {
            switch (state[p]) {
                case OWNED, REVOKING -> membership.release(p, myRevision[p], confirmed);
                case AWAITING_RELEASES -> membership.release(p, myRevision[p], await(releases[p], deadline));
                case RELEASE_DIRTY -> membership.release(p, myRevision[p], false);
                case RELEASE_CLEAN -> membership.release(p, myRevision[p], true);
                case FREE -> {
                }
            }
            state[p] = LeaseState.FREE;
        }
        membership.leave();
    }

    private static boolean await(CompletableFuture<?> f, long deadlineNanos) {
        try {
            f.get(Math.max(0, deadlineNanos - System.nanoTime()), TimeUnit.NANOSECONDS);
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            return false;
        }
    }
}
