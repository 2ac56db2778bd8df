package io.sluice.nats;

import io.nats.client.KeyValue;
import io.nats.client.api.KeyValueEntry;
import io.sluice.Handler;
import io.sluice.Message;
import io.sluice.Receipt;
import io.sluice.Sluice;
import io.sluice.Subscription;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.SluiceConfig;
import io.sluice.testkit.DeliveryLog;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * A member that is alive but busy in a long rebalance callback (its handlers run longer than the session timeout
 * while it revokes a partition) keeps its membership: no other member takes its partitions meanwhile, each key stays
 * on one member, and when it finally lets go it releases only its own leases.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class JetStreamStalledMemberTest {
    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final int PARTITIONS = 3;

    @Test
    void shouldKeepEachPartitionOnOneMemberWhileARevokingMemberIsBusyLongerThanTheSession() throws Exception {
        String url = NatsTestServer.get().url();
        // Session 3 s; ack wait 2 s, so the blocked messages also need in-progress acks during the callback.
        NatsSettings settings = NatsTestServer.settings(url).ackWait(Duration.ofSeconds(2)).build();
        String topic = "stall-" + Long.toHexString(System.nanoTime());
        String group = "g";
        DeliveryLog log = new DeliveryLog();
        CountDownLatch unblock = new CountDownLatch(1);
        AtomicInteger blocked = new AtomicInteger();
        Handler handler = m -> {
            log.started(m);
            try {
                if (m.header("block") != null) {
                    blocked.incrementAndGet();
                    unblock.await();
                }
                log.handled(m, false);
            } finally {
                log.ended(m);
            }
        };
        ConsumerOptions options = ConsumerOptions.builder().maxInFlight(50).handlerTimeout(Duration.ofMinutes(1))
                .shutdownTimeout(Duration.ofSeconds(30)).build();
        String[] keys = NatsTestServer.keysPerPartition(PARTITIONS);
        try (NatsTransport ta = new NatsTransport(settings);
             RevocationRecordingTransport recorded = new RevocationRecordingTransport(ta);
             Sluice a = Sluice.create(recorded, SluiceConfig.of("nats"));
             Sluice b = Sluice.create(new NatsTransport(settings), SluiceConfig.of("nats"))) {
            Subscription first = a.subscribe(topic, group, handler, options);
            await().atMost(WAIT).until(() -> first.assignedPartitions().size() == PARTITIONS);
            // One blocking message on every partition: whichever moves, its revocation waits for the handler.
            List<CompletableFuture<Receipt>> sent = new ArrayList<>();
            for (String key : keys) {
                sent.add(a.publisher().publish(topic, Message.builder().key(key).payload("stuck")
                        .header("block", "yes").header(DeliveryLog.SEQ, "0").build()));
            }
            sent.forEach(f -> log.published(f.join()));
            await().atMost(WAIT).until(() -> blocked.get() == PARTITIONS);

            Subscription second = b.subscribe(topic, group, handler, options);
            try (JetStreamFeaturesTest.OverlapSampler overlap = new JetStreamFeaturesTest.OverlapSampler(first,
                    second)) {
                // Twice the session timeout since the first member entered revoked() (a lower bound from that
                // observed event, which a slow machine only lengthens): it must still count as alive, so the second
                // has taken nothing (what it took it would still hold).
                await().atMost(WAIT).until(() -> recorded.anyRevokeStarted(group + "-1") != 0);
                long revoking = recorded.anyRevokeStarted(group + "-1");
                await().atMost(WAIT).until(() -> System.nanoTime() - revoking > 2 * settings.sessionTimeout.toNanos());
                assertThat(second.assignedPartitions()).as("taken from a member busy in revoked()").isEmpty();
                unblock.countDown();
                await().atMost(WAIT).until(() -> !second.assignedPartitions().isEmpty()
                        && first.assignedPartitions().size() + second.assignedPartitions().size() == PARTITIONS);
                sent.clear();
                for (int seq = 1; seq <= 20; seq++) {
                    for (String key : keys) {
                        sent.add(b.publisher().publish(topic, Message.builder().key(key).payload("after")
                                .header(DeliveryLog.SEQ, Integer.toString(seq)).build()));
                    }
                }
                sent.forEach(f -> log.published(f.join()));
                await().atMost(WAIT).until(() -> log.allHandled() || !log.violations().isEmpty());
                assertThat(overlap.seen()).as("partitions held by both members at once").isEmpty();
            }
            assertThat(log.violations()).as("key order, and one key running on two members at once").isEmpty();
            assertThat(log.unhandled()).as("lost messages").isEmpty();
            assertThat(log.duplicates()).as("messages handled twice").isZero();

            // Every partition is leased to the member consuming it: none was deleted behind its owner's back.
            KeyValue kv = ta.groupBucket();
            Set<String> holders = new HashSet<>();
            for (int p = 0; p < PARTITIONS; p++) {
                KeyValueEntry lease = kv.get(Names.escape(topic) + "." + Names.escape(group) + ".p." + p);
                assertThat(lease).as("lease of partition %d", p).isNotNull();
                assertThat(lease.getValueAsString()).as("lease of partition %d", p).isNotNull().doesNotStartWith("~");
                holders.add(lease.getValueAsString());
            }
            assertThat(holders).as("both members hold leases").hasSize(2);
        }
    }

    /**
     * While the poll thread waits inside {@code revoked()} for a moving partition's handler, the messages it holds of
     * the partitions it keeps still get in-progress acks (from the keep-alive thread), so the server does not hand
     * them out again once the member resumes fetching.
     */
    @Test
    void shouldKeepInProgressAcksGoingWhileTheMemberIsInsideALongRevocation() throws Exception {
        String url = NatsTestServer.get().url();
        NatsSettings settings = NatsTestServer.settings(url).ackWait(Duration.ofSeconds(2)).build();
        String topic = "inside-" + Long.toHexString(System.nanoTime());
        String group = "g";
        String[] keys = NatsTestServer.keysPerPartition(PARTITIONS);
        CountDownLatch[] unblock = new CountDownLatch[PARTITIONS];
        for (int p = 0; p < PARTITIONS; p++) {
            unblock[p] = new CountDownLatch(1);
        }
        DeliveryLog log = new DeliveryLog();
        AtomicInteger blocked = new AtomicInteger();
        Handler handler = m -> {
            log.started(m);
            try {
                if (m.header("block") != null) {
                    blocked.incrementAndGet();
                    unblock[Names.partitionFor(m.key(), PARTITIONS)].await();
                }
                log.handled(m, false);
            } finally {
                log.ended(m);
            }
        };
        ConsumerOptions options = ConsumerOptions.builder().maxInFlight(50).handlerTimeout(Duration.ofMinutes(1))
                .shutdownTimeout(Duration.ofSeconds(30)).build();
        try (NatsTransport ta = new NatsTransport(settings);
             RevocationRecordingTransport recorded = new RevocationRecordingTransport(ta);
             Sluice a = Sluice.create(recorded, SluiceConfig.of("nats"));
             Sluice b = Sluice.create(new NatsTransport(settings), SluiceConfig.of("nats"));
             JetStreamWitness witness = new JetStreamWitness(url, topic)) {
            KeyValue kv = ta.groupBucket();
            String members = Names.escape(topic) + "." + Names.escape(group) + ".m.";
            Subscription first = a.subscribe(topic, group, handler, options);
            await().atMost(WAIT).until(() -> first.assignedPartitions().size() == PARTITIONS);
            String firstId = kv.keys(members + ">").get(0).substring(members.length());
            List<CompletableFuture<Receipt>> sent = new ArrayList<>();
            for (String key : keys) {
                sent.add(a.publisher().publish(topic, Message.builder().key(key).payload("held")
                        .header("block", "yes").header(DeliveryLog.SEQ, "0").build()));
            }
            Map<Integer, String> sequenceOf = new HashMap<>(); // partition -> stream sequence of its held message
            sent.forEach(f -> {
                log.published(f.join());
                sequenceOf.put(f.join().partition(), Long.toString(f.join().offset()));
            });
            await().atMost(WAIT).until(() -> blocked.get() == PARTITIONS);

            Subscription second = b.subscribe(topic, group, handler, options);
            await().atMost(WAIT).until(() -> kv.keys(members + ">").size() == 2);
            List<String> ids = new ArrayList<>();
            for (String k : kv.keys(members + ">")) {
                ids.add(k.substring(members.length()));
            }
            ids.sort(null);
            int firstIndex = ids.indexOf(firstId);
            List<Integer> moving = new ArrayList<>();
            List<Integer> kept = new ArrayList<>();
            for (int p = 0; p < PARTITIONS; p++) {
                (p % 2 == firstIndex ? kept : moving).add(p);
            }
            // Three ack waits inside revoked(), waiting for the moving partitions' handlers: nine more in-progress
            // acks, a third of the 2 s ack wait apart at least, for each kept partition's message since the
            // callback began.
            await().atMost(WAIT).until(() -> recorded.anyRevokeStarted(group + "-1") != 0);
            Map<String, Integer> atRevoke = witness.progressAcks();
            await().atMost(WAIT).until(() -> {
                Map<String, Integer> now = witness.progressAcks();
                return kept.stream().map(sequenceOf::get).allMatch(seq ->
                        now.getOrDefault(seq, 0) - atRevoke.getOrDefault(seq, 0) >= 9);
            });
            assertThat(moving).as("revocations finished").noneMatch(p -> recorded.revokeEnded(group + "-1", p));
            assertThat(second.assignedPartitions()).as("taken from a member busy in revoked()").isEmpty();
            for (int p : moving) {
                unblock[p].countDown();
            }
            await().atMost(WAIT).until(() -> second.assignedPartitions().equals(new HashSet<>(moving)));
            // The first member fetches its kept partitions again: an expired message would come back to those pulls,
            // and the server would count its redelivery. Once a pull sent from now on has ended on each kept
            // partition, it would have.
            Map<Integer, Set<String>> pullsBefore = new HashMap<>();
            for (int p : kept) {
                pullsBefore.put(p, witness.pulls(Names.durable(group, p)));
            }
            await().atMost(WAIT).until(() -> kept.stream().allMatch(p ->
                    witness.newPullEnded(Names.durable(group, p), pullsBefore.get(p))));
            for (int p : kept) {
                io.nats.client.api.ConsumerInfo info = ta.management().getConsumerInfo(Names.stream(topic),
                        Names.durable(group, p));
                assertThat(info.getDelivered().getConsumerSequence()).as("deliveries of kept partition %d", p)
                        .isEqualTo(1);
                assertThat(info.getRedelivered()).as("redeliveries of kept partition %d", p).isZero();
            }
            for (int p : kept) {
                unblock[p].countDown();
            }
            await().atMost(WAIT).until(log::allHandled);
            assertThat(log.duplicates()).as("messages handled twice").isZero();
            assertThat(log.violations()).isEmpty();
        } finally {
            for (CountDownLatch l : unblock) {
                l.countDown();
            }
        }
    }

}
