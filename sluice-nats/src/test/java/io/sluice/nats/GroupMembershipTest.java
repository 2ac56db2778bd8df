package io.sluice.nats;

import io.nats.client.KeyValue;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** Membership and leases in the real key-value bucket. */
class GroupMembershipTest {
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

    @Test
    void shouldSplitPartitionsByIdAndLetOnlyOneMemberHoldALease() throws Exception {
        GroupMembership a = new GroupMembership(kv, topic, "g", "a", 4, 60_000, () -> { });
        GroupMembership b = new GroupMembership(kv, topic, "g", "b", 4, 60_000, () -> { });
        a.join();
        b.join();
        await().atMost(Duration.ofSeconds(10)).until(() -> a.alive().size() == 2 && b.alive().size() == 2);
        assertThat(a.alive()).containsExactly("a", "b");
        assertThat(a.target()).containsExactly(true, false, true, false);
        assertThat(b.target()).containsExactly(false, true, false, true);

        assertThat(a.acquire(0)).isTrue();
        await().atMost(Duration.ofSeconds(10)).until(() -> "a".equals(b.leaseHolder(0)));
        assertThat(b.acquire(0)).as("a live member's lease cannot be taken").isFalse();
        assertThat(a.refresh(0)).isTrue();

        a.leave(List.of(0));
        await().atMost(Duration.ofSeconds(10)).until(() -> b.leaseHolder(0) == null && b.alive().size() == 1);
        assertThat(b.acquire(0)).as("a released lease is free").isTrue();
        b.leave(List.of(0));
    }

    @Test
    void shouldTakeOverLeaseOfSilentMemberAndTellTheOldHolder() throws Exception {
        GroupMembership old = new GroupMembership(kv, topic, "g", "old", 1, 60_000, () -> { });
        old.join();
        assertThat(old.acquire(0)).isTrue();
        // A session of 0 ms: any member whose heartbeat is not the newest counts as gone.
        GroupMembership young = new GroupMembership(kv, topic, "g", "young", 1, 0, () -> { });
        young.join();
        await().atMost(Duration.ofSeconds(10)).until(() -> "old".equals(young.leaseHolder(0))
                && young.alive().equals(List.of("young")));

        assertThat(young.acquire(0)).as("the holder's heartbeats stopped").isTrue();
        assertThat(old.refresh(0)).as("a replaced lease cannot be refreshed").isFalse();
        await().atMost(Duration.ofSeconds(10)).until(() -> old.leaseTakenByOther(0));
        old.close();
        young.leave(List.of(0));
    }
}
