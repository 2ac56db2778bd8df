package io.sluice.nats;

import io.nats.client.KeyValue;
import io.nats.client.api.KeyValueEntry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** Membership and leases in the real key-value bucket. */
class GroupMembershipTest {
    private static final long MINUTE = TimeUnit.MINUTES.toNanos(1);

    private NatsTransport transport;
    private KeyValue kv;
    private String topic;

    @BeforeEach
    void start() {
        transport = new NatsTransport(NatsTestServer.settings(NatsTestServer.get().url()).build());
        kv = transport.groupBucket();
        topic = "members-" + Long.toHexString(System.nanoTime());
    }

    @AfterEach
    void stop() {
        transport.close();
    }

    private GroupMembership member(String id, int partitions, long sessionNanos) throws Exception {
        GroupMembership m = new GroupMembership(kv, topic, "g", id, partitions, sessionNanos, () -> { });
        m.join();
        return m;
    }

    private String leaseValue(int partition) throws Exception {
        KeyValueEntry e = kv.get(Names.escape(topic) + ".g.p." + partition);
        return e == null ? null : e.getValueAsString();
    }

    @Test
    void shouldSplitPartitionsByIdAndLetOnlyOneMemberHoldALease() throws Exception {
        GroupMembership a = member("a", 4, MINUTE);
        GroupMembership b = member("b", 4, MINUTE);
        await().atMost(Duration.ofSeconds(10)).until(() -> a.alive(System.nanoTime()).size() == 2
                && b.alive(System.nanoTime()).size() == 2);
        assertThat(a.alive(System.nanoTime())).containsExactly("a", "b");
        assertThat(a.target(System.nanoTime())).containsExactly(true, false, true, false);
        assertThat(b.target(System.nanoTime())).containsExactly(false, true, false, true);

        GroupMembership.Acquired taken = a.acquire(0, System.nanoTime());
        assertThat(taken).isNotNull();
        assertThat(taken.mayHaveUnacked()).as("a lease that never existed has no leftovers").isFalse();
        await().atMost(Duration.ofSeconds(10)).until(() -> b.lease(0) != null && "a".equals(b.lease(0).holder()));
        assertThat(b.acquire(0, System.nanoTime())).as("a live member's lease cannot be taken").isNull();
        long refreshed = a.refresh(0, taken.revision());
        assertThat(refreshed).isGreaterThan(taken.revision());

        assertThat(a.release(0, refreshed, true)).isTrue();
        a.leave();
        await().atMost(Duration.ofSeconds(10)).until(() -> b.lease(0).holder() == null
                && b.alive(System.nanoTime()).size() == 1);
        GroupMembership.Acquired again = b.acquire(0, System.nanoTime());
        assertThat(again).as("a cleanly released lease is free").isNotNull();
        assertThat(again.mayHaveUnacked()).isFalse();
        b.leave();
    }

    /**
     * The view of leases comes from a watch, which jnats may leave silent for a while after a reconnect. A refused
     * lease write must not leave the member retrying against its stale view until the watch catches up: it reads the
     * lease from the bucket and the next try succeeds.
     */
    @Test
    void shouldReadTheLeaseFromTheBucketWhenAWriteIsRefusedInsteadOfWaitingForTheWatch() throws Exception {
        // Not joined: no watch, so the view changes only through this member's own writes (a watch gone silent).
        GroupMembership stale = new GroupMembership(kv, topic, "g", "stale", 1, MINUTE, () -> { });
        GroupMembership.Acquired first = stale.acquire(0, System.nanoTime());
        assertThat(first).isNotNull();
        // The lease is deleted behind the view's back (as when this member's release went through but its answer
        // was lost with the connection).
        kv.delete(Names.escape(topic) + ".g.p.0");
        assertThat(stale.lease(0).holder()).as("the view still shows the old lease").isEqualTo("stale");

        assertThat(stale.acquire(0, System.nanoTime())).as("written at the view's stale revision").isNull();
        assertThat(stale.lease(0).holder()).as("the view now shows the lease free").isNull();
        GroupMembership.Acquired again = stale.acquire(0, System.nanoTime());
        assertThat(again).isNotNull();
        assertThat(again.mayHaveUnacked()).as("a cleanly deleted lease has no leftovers").isFalse();
        assertThat(leaseValue(0)).isEqualTo("stale");
    }

    @Test
    void shouldTakeOverLeaseOfSilentMemberAndTellTheOldHolder() throws Exception {
        GroupMembership old = member("old", 1, MINUTE);
        GroupMembership.Acquired mine = old.acquire(0, System.nanoTime());
        assertThat(mine).isNotNull();
        // A session of 0: any member whose heartbeat this member did not see this very nanosecond counts as gone.
        GroupMembership young = member("young", 1, 0);
        await().atMost(Duration.ofSeconds(10)).until(() -> young.lease(0) != null
                && "old".equals(young.lease(0).holder()));
        assertThat(young.alive(System.nanoTime())).containsExactly("young");

        GroupMembership.Acquired taken = young.acquire(0, System.nanoTime());
        assertThat(taken).as("the holder's heartbeats stopped").isNotNull();
        assertThat(taken.mayHaveUnacked()).as("a dead holder may have left messages unacknowledged").isTrue();
        assertThat(taken.previous()).isEqualTo("old");
        assertThat(old.refresh(0, mine.revision())).as("a replaced lease cannot be refreshed")
                .isEqualTo(GroupMembership.LOST);
        await().atMost(Duration.ofSeconds(10)).until(() -> old.lostSince(0, mine.revision()));
        assertThat(leaseValue(0)).isEqualTo("young");
        old.close();
        young.leave();
    }

    @Test
    void shouldLeaveALeaseAloneWhenItsFormerHolderReleasesIt() throws Exception {
        GroupMembership old = member("old", 1, MINUTE);
        GroupMembership.Acquired mine = old.acquire(0, System.nanoTime());
        GroupMembership young = member("young", 1, 0);
        await().atMost(Duration.ofSeconds(10)).until(() -> young.lease(0) != null
                && "old".equals(young.lease(0).holder()));
        GroupMembership.Acquired taken = young.acquire(0, System.nanoTime());
        assertThat(taken).isNotNull();
        await().atMost(Duration.ofSeconds(10)).until(() -> "young".equals(old.lease(0).holder()));

        // The former holder comes back from a long callback and lets go of what it thinks is still its lease.
        assertThat(old.release(0, mine.revision(), true)).as("nothing left to do: the lease moved on").isTrue();
        assertThat(old.release(0, mine.revision(), false)).isTrue();
        assertThat(leaseValue(0)).as("the new holder's lease survives").isEqualTo("young");
        assertThat(young.refresh(0, taken.revision())).as("and is still the new holder's to rewrite")
                .isGreaterThan(taken.revision());
        old.close();
        young.leave();
    }

    @Test
    void shouldMakeTheNextOwnerHoldWhenReleasesWereNotConfirmed() throws Exception {
        GroupMembership a = member("a", 1, MINUTE);
        GroupMembership b = member("b", 1, MINUTE);
        GroupMembership.Acquired mine = a.acquire(0, System.nanoTime());
        assertThat(a.release(0, mine.revision(), false)).isTrue();
        assertThat(leaseValue(0)).isEqualTo("~a");
        await().atMost(Duration.ofSeconds(10)).until(() -> b.lease(0) != null && b.lease(0).dirty());
        assertThat(b.lease(0).holder()).as("released, so free to take").isNull();

        GroupMembership.Acquired taken = b.acquire(0, System.nanoTime());
        assertThat(taken).isNotNull();
        assertThat(taken.mayHaveUnacked()).as("its messages may still be waiting for their ack wait").isTrue();
        a.leave();
        b.leave();
    }

    @Test
    void shouldCountAMemberAliveForOneSessionFromWhenItsHeartbeatWasLastSeen() throws Exception {
        GroupMembership quiet = member("quiet", 2, MINUTE);
        GroupMembership watcher = member("watcher", 2, TimeUnit.SECONDS.toNanos(1));
        await().atMost(Duration.ofSeconds(10)).until(() -> watcher.alive(System.nanoTime()).size() == 2);
        // "quiet" writes no more heartbeats: after one session of this member's own clock it is gone ...
        await().atMost(Duration.ofSeconds(10)).until(() -> watcher.alive(System.nanoTime()).equals(List.of("watcher")));
        // ... unless this member was away: after a reconnect everyone counts as just seen.
        watcher.resetLiveness(System.nanoTime());
        assertThat(watcher.alive(System.nanoTime())).containsExactly("quiet", "watcher");
        assertThat(quiet.heartbeat()).isTrue();
        quiet.leave();
        await().atMost(Duration.ofSeconds(10)).until(() -> watcher.alive(System.nanoTime()).size() == 1);
        watcher.leave();
    }
}
