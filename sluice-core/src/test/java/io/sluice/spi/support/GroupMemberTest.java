package io.sluice.spi.support;

import io.sluice.spi.PartitionListener;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Cooperative hand-over over {@link LocalMembership} and other stores: the order of callbacks and lease moves. */
@Timeout(value = 60, unit = java.util.concurrent.TimeUnit.SECONDS)
class GroupMemberTest {
    private final LocalMembership group = new LocalMembership(4);
    private final List<String> events = new ArrayList<>();
    private final Set<Integer> cannotLetGo = new HashSet<>();
    private final Set<Integer> failToOpen = new HashSet<>();

    @Test
    void shouldHandAPartitionOverOnlyAfterItsOwnerRevokedAndClosedIt() {
        GroupMember a = member("a");
        a.rebalance();
        GroupMember b = member("b");
        b.rebalance(); // its partitions are still a's: it takes nothing yet
        assertThat(b.rebalanceRequested()).isFalse();

        a.rebalance(); // a lets go of 1 and 3, which tells b
        assertThat(b.rebalanceRequested()).isTrue();
        b.rebalance();

        assertThat(events).containsExactly(
                "a open 0", "a open 1", "a open 2", "a open 3", "a assigned [0, 1, 2, 3]",
                "a revoked [1, 3]", "a close 1", "a close 3",
                "b open 1", "b open 3", "b assigned [1, 3]");
        assertThat(List.of(a.owns(0), a.owns(1), b.owns(1), b.owns(2))).containsExactly(true, false, true, false);
    }

    @Test
    void shouldKeepAMovingPartitionUnfetchableUntilTheTransportCanLetGoOfIt() {
        GroupMember a = member("a");
        a.rebalance();
        cannotLetGo.add(1);
        GroupMember b = member("b");
        a.rebalance();
        b.rebalance();

        assertThat(events).containsSubsequence("a revoked [3]", "b assigned [3]").doesNotContain("a revoked [1]");
        assertThat(a.owns(1)).isTrue();
        assertThat(a.isFetchable(1)).as("on its way to b").isFalse();
        assertThat(a.isFetchable(0)).isTrue();

        cannotLetGo.clear();
        a.requestRebalance();
        a.rebalance();
        b.rebalance();

        assertThat(events).endsWith("a revoked [1]", "a close 1", "b open 1", "b assigned [1]");
    }

    @Test
    void shouldForgetThePauseOfARevokedPartitionAndStartItUnpausedWhenItComesBack() {
        GroupMember a = member("a");
        a.rebalance();
        a.pause(List.of(0, 1, 7));
        GroupMember b = member("b");
        a.rebalance();
        b.rebalance();
        b.leave();
        a.rebalance();

        assertThat(events).endsWith("b close 1", "b close 3", "a open 1", "a open 3", "a assigned [1, 3]");
        assertThat(a.isPaused(0)).isTrue();
        assertThat(a.isFetchable(0)).isFalse();
        assertThat(a.isPaused(1)).isFalse();
        assertThat(a.isFetchable(1)).isTrue();
        a.resume(List.of(0));
        assertThat(a.isFetchable(0)).isTrue();
    }

    @Test
    void shouldReleaseTheLeaseWhenOpeningAPartitionFails() {
        failToOpen.add(2);
        GroupMember a = member("a");

        assertThatThrownBy(a::rebalance).isInstanceOf(IllegalStateException.class).hasMessage("cannot open 2");

        assertThat(group.isHeld(2)).isFalse();
        assertThat(a.owns(2)).isFalse();
        failToOpen.clear();
        a.rebalance(); // still pending: tried again
        assertThat(a.owns(2)).isTrue();
    }

    @Test
    void shouldAnnounceThePartitionsOpenedBeforeAFailedOpenOnALaterRebalance() {
        GroupMember a = member("a");
        a.rebalance();
        GroupMember b = member("b");
        a.rebalance();
        b.rebalance();
        failToOpen.add(3);
        b.leave(); // 1 and 3 come back to a; opening 3 fails after 1 was opened

        assertThatThrownBy(a::rebalance).isInstanceOf(IllegalStateException.class).hasMessage("cannot open 3");

        assertThat(events).endsWith("b close 1", "b close 3", "a open 1", "a assigned [1]");
        assertThat(group.isHeld(3)).isFalse();
        failToOpen.clear();
        a.rebalance(); // the group has not changed since: only the unfinished rebalance brings 3 back
        assertThat(a.owns(3)).isTrue();
        assertThat(events).endsWith("a open 3", "a assigned [3]");
    }

    @Test
    void shouldTryAFailedOpenAgainOnTheNextRebalanceThoughTheStoreReportsNoChange() {
        DroppingStore store = new DroppingStore(); // its release does not call back, as a store over a broker may not
        GroupMember a = new GroupMember(onChange -> store.joined(onChange), listener("a"), partitions("a"), () -> { });
        a.rebalance();
        store.dropped.addAll(List.of(1, 2)); // lost, free again once noticed
        store.generation++;
        store.onChange.run();
        failToOpen.add(2);

        assertThatThrownBy(a::rebalance).isInstanceOf(IllegalStateException.class).hasMessage("cannot open 2");

        assertThat(events).endsWith("a lost [1, 2]", "a close 1", "a close 2", "a open 1", "a assigned [1]");
        assertThat(a.rebalanceRequested()).isFalse();
        failToOpen.clear();
        a.rebalance();
        assertThat(a.owns(2)).as("free and targeted at this member").isTrue();
        assertThat(events).endsWith("a open 2", "a assigned [2]");
    }

    @Test
    void shouldLeaveWithoutCallingTheListenerAndFreeEveryLease() {
        GroupMember a = member("a");
        a.rebalance();
        a.leave();

        assertThat(events).endsWith("a close 0", "a close 1", "a close 2", "a close 3");
        assertThat(events).noneMatch(e -> e.contains("revoked"));
        assertThat(group.hasMembers()).isFalse();
        for (int p = 0; p < 4; p++) {
            assertThat(group.isHeld(p)).isFalse();
        }
    }

    @Test
    void shouldGiveUpAsLostAPartitionWhoseLeaseAnotherMemberTook() {
        DroppingStore store = new DroppingStore();
        GroupMember a = new GroupMember(onChange -> store.joined(onChange), listener("a"), partitions("a"), () -> { });
        a.rebalance();

        store.dropped.add(2); // the broker shows another member holding it (this member was judged dead)
        store.generation++;
        store.onChange.run();
        a.rebalance();

        assertThat(events).endsWith("a lost [2]", "a close 2", "a open 2", "a assigned [2]");
        assertThat(store.released).as("a lost lease is not released by its old holder").isEmpty();
    }

    @Test
    void shouldTakeALeaseWhoseWriteCompletesOnTheStoresOwnThread() throws Exception {
        RemoteLikeStore store = new RemoteLikeStore();
        PollWaiter waiter = new PollWaiter();
        waiter.enter();
        GroupMember a = new GroupMember(onChange -> store.joined(onChange), listener("a"), partitions("a"),
                waiter::signal);
        try {
            a.rebalance(); // asks for the leases; none is held yet
            assertThat(events).isEmpty();
            while (!events.contains("a assigned [0, 1, 2, 3]")) {
                // parks until the store's thread wrote a lease and called back; an hour if a call-back were lost
                waiter.await(System.nanoTime() + java.util.concurrent.TimeUnit.HOURS.toNanos(1),
                        a::rebalanceRequested);
                a.rebalance();
            }
        } finally {
            store.writer.shutdownNow();
        }
        assertThat(events).containsSubsequence("a open 0", "a open 3").allMatch(e -> !e.contains("lost"));
    }

    private GroupMember member(String name) {
        return new GroupMember(onChange -> group.join(name, onChange), listener(name), partitions(name), () -> { });
    }

    private PartitionListener listener(String name) {
        return new PartitionListener() {
            @Override
            public void assigned(Collection<Integer> partitions) {
                events.add(name + " assigned " + partitions);
            }

            @Override
            public void revoked(Collection<Integer> partitions) {
                events.add(name + " revoked " + partitions);
            }

            @Override
            public void lost(Collection<Integer> partitions) {
                events.add(name + " lost " + partitions);
            }
        };
    }

    private GroupMember.Partitions partitions(String name) {
        return new GroupMember.Partitions() {
            @Override
            public void open(int partition) {
                if (failToOpen.contains(partition)) {
                    throw new IllegalStateException("cannot open " + partition);
                }
                events.add(name + " open " + partition);
            }

            @Override
            public void close(int partition) {
                events.add(name + " close " + partition);
            }

            @Override
            public boolean canLetGo(int partition) {
                return !cannotLetGo.contains(partition);
            }
        };
    }

    /**
     * A one-member store whose view can show a lease taken away, as a store over a broker does when another member
     * took it over; once the loss was noticed the lease is free again.
     */
    private static final class DroppingStore implements MembershipStore {
        final Set<Integer> dropped = new HashSet<>();
        final List<Integer> released = new ArrayList<>();
        final Set<Integer> held = new HashSet<>();
        long generation;
        Runnable onChange;

        MembershipStore joined(Runnable onChange) {
            this.onChange = onChange;
            return this;
        }

        @Override
        public String memberId() {
            return "a";
        }

        @Override
        public int partitions() {
            return 4;
        }

        @Override
        public List<String> members() {
            return List.of("a");
        }

        @Override
        public long generation() {
            return generation;
        }

        @Override
        public boolean tryAcquire(int partition) {
            return held.add(partition) || held.contains(partition);
        }

        @Override
        public boolean holds(int partition) {
            if (dropped.remove(partition)) {
                held.remove(partition);
                return false;
            }
            return held.contains(partition);
        }

        @Override
        public void release(int partition) {
            released.add(partition);
            held.remove(partition);
        }

        @Override
        public void leave() {
            held.clear();
        }
    }

    /**
     * A store whose lease writes run on its own thread, as one over a broker does: {@code tryAcquire} answers from
     * its view and starts the write, which calls the change callback when it is done.
     */
    private static final class RemoteLikeStore implements MembershipStore {
        final java.util.concurrent.ExecutorService writer = java.util.concurrent.Executors.newSingleThreadExecutor();
        final Set<Integer> held = java.util.concurrent.ConcurrentHashMap.newKeySet();
        final Set<Integer> requested = new HashSet<>();
        Runnable onChange;

        MembershipStore joined(Runnable onChange) {
            this.onChange = onChange;
            return this;
        }

        @Override
        public String memberId() {
            return "a";
        }

        @Override
        public int partitions() {
            return 4;
        }

        @Override
        public List<String> members() {
            return List.of("a");
        }

        @Override
        public long generation() {
            return 1;
        }

        @Override
        public boolean tryAcquire(int partition) {
            if (held.contains(partition)) {
                return true;
            }
            if (requested.add(partition)) {
                writer.execute(() -> {
                    held.add(partition);
                    onChange.run();
                });
            }
            return false;
        }

        @Override
        public boolean holds(int partition) {
            return held.contains(partition);
        }

        @Override
        public void release(int partition) {
            held.remove(partition);
        }

        @Override
        public void leave() {
            held.clear();
        }
    }
}
