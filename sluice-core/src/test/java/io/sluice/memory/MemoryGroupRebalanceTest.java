package io.sluice.memory;

import io.sluice.Message;
import io.sluice.Receipt;
import io.sluice.Sluice;
import io.sluice.Subscription;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.SluiceConfig;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

class MemoryGroupRebalanceTest {

    @Test
    void shouldLoseNothingAndBoundDuplicatesByInFlightWhileMembersJoinAndLeave() throws Exception {
        MemoryTransport transport = new MemoryTransport(6, 1 << 20);
        try (Sluice sluice = Sluice.create(transport, SluiceConfig.of("memory"))) {
            Map<String, AtomicInteger> handled = new ConcurrentHashMap<>();
            ConsumerOptions options = ConsumerOptions.builder().maxInFlight(50)
                    .commitInterval(Duration.ofMillis(10)).build();
            List<CompletableFuture<Receipt>> sent = new ArrayList<>();
            for (int i = 0; i < 20_000; i++) {
                sent.add(sluice.publisher().publish("t", Message.of("k" + (i % 500), Integer.toString(i))));
            }
            CompletableFuture.allOf(sent.toArray(new CompletableFuture[0])).join();
            io.sluice.Handler handler = m -> {
                Thread.sleep(0, 200_000);
                handled.computeIfAbsent(m.id(), id -> new AtomicInteger()).incrementAndGet();
            };
            Subscription a = sluice.subscribe("t", "g", handler, options);
            await().until(() -> handled.size() > 2_000);
            Subscription b = sluice.subscribe("t", "g", handler, options);
            Subscription c = sluice.subscribe("t", "g", handler, options);
            await().until(() -> handled.size() > 8_000);
            assertThat(a.close(Duration.ofSeconds(5))).isTrue();
            await().until(() -> handled.size() > 14_000);
            b.close(Duration.ofSeconds(5));
            await().until(() -> handled.size() == 20_000);

            // A revoked partition's running messages finish and are committed; messages waiting behind their key
            // are released, so finished ones above them come again. Four hand-overs (two joins, two leaves) can
            // each repeat at most the in-flight bound.
            long duplicates = handled.values().stream().filter(n -> n.get() > 1).count();
            assertThat(duplicates).as("duplicates after four hand-overs with maxInFlight 50").isLessThanOrEqualTo(4 * 50);
            assertThat(c.assignedPartitions()).containsExactly(0, 1, 2, 3, 4, 5);
            for (int p = 0; p < 6; p++) {
                assertThat(transport.committedOffset("t", "g", p)).isPresent();
            }
        }
    }

    @Test
    void shouldNotSkipMessagesWhenALatestStartMovesBeforeItsFirstCommit() throws Exception {
        MemoryTransport transport = new MemoryTransport(1, 1 << 20);
        try (Sluice sluice = Sluice.create(transport, SluiceConfig.of("memory"))) {
            Map<String, AtomicInteger> handled = new ConcurrentHashMap<>();
            java.util.concurrent.CountDownLatch firstStarted = new java.util.concurrent.CountDownLatch(1);
            ConsumerOptions latest = ConsumerOptions.builder().startFrom(io.sluice.config.StartPosition.LATEST)
                    .shutdownTimeout(Duration.ofMillis(100)).build();
            Subscription first = sluice.subscribe("t", "g", m -> {
                firstStarted.countDown();
                Thread.sleep(Duration.ofSeconds(30)); // never finishes before its partition moves
            }, latest);
            await().until(() -> !first.assignedPartitions().isEmpty());
            for (int i = 0; i < 10; i++) {
                sluice.publisher().publish("t", Message.of("k" + i, "m" + i)).join();
            }
            firstStarted.await();
            first.close(Duration.ofMillis(100));
            for (int i = 10; i < 12; i++) {
                sluice.publisher().publish("t", Message.of("k" + i, "m" + i)).join();
            }
            sluice.subscribe("t", "g", m -> handled.computeIfAbsent(m.payloadAsString(), k -> new AtomicInteger())
                    .incrementAndGet(), latest);
            await().until(() -> handled.size() == 12);
        }
    }

    @Test
    void shouldFenceCommitsFromAMemberThatNoLongerOwnsThePartition() throws Exception {
        MemoryTopic topic = new MemoryTopic("t", 2);
        MemoryGroup group = topic.group("g");
        MemoryConsumer owner = new MemoryConsumer(topic, new io.sluice.spi.ConsumerSpec("t", "g", "m1",
                io.sluice.config.StartPosition.EARLIEST), new NoopListener());
        owner.poll(0, 0, false, 0, (m, p, o, size, attempt, handle) -> { });
        owner.commit(Map.of(1, 5L), true);
        MemoryConsumer next = new MemoryConsumer(topic, new io.sluice.spi.ConsumerSpec("t", "g", "m2",
                io.sluice.config.StartPosition.EARLIEST), new NoopListener());
        owner.poll(0, 0, false, 0, (m, p, o, size, attempt, handle) -> { }); // gives partition 1 to the new member

        owner.commit(Map.of(1, 9L), true);

        assertThat(group.committed(1)).isEqualTo(5);
        owner.close();
        next.close();
    }

    private static final class NoopListener implements io.sluice.spi.PartitionListener {
        @Override
        public void assigned(java.util.Collection<Integer> partitions) {
        }

        @Override
        public void revoked(java.util.Collection<Integer> partitions) {
        }

        @Override
        public void lost(java.util.Collection<Integer> partitions) {
        }
    }
}
