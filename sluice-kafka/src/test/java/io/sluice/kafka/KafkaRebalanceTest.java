package io.sluice.kafka;

import io.sluice.Handler;
import io.sluice.Message;
import io.sluice.Receipt;
import io.sluice.Sluice;
import io.sluice.Subscription;
import io.sluice.brokers.kafka.KafkaBroker;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.SluiceConfig;
import io.sluice.testkit.DeliveryLog;
import org.apache.kafka.clients.admin.NewTopic;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Rebalance safety with the cooperative-sticky assignor: a group whose members join and leave while it works through
 * 50,000 keyed messages loses nothing, keeps per-key order, commits on every revoke and close exactly up to the first
 * record its handlers had not finished, and sees again only records at or above that point. Both checks measure
 * from hand-overs and handler completions ({@link RecordingTransport}), not from what the engine says it committed.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class KafkaRebalanceTest {
    private static final Logger log = LoggerFactory.getLogger(KafkaRebalanceTest.class);
    private static final int MESSAGES = 50_000;
    private static final int KEYS = 500;

    @Test
    void shouldLoseNothingAndBoundDuplicatesWhileMembersJoinAndLeave() throws Exception {
        String topic = "rebalance-" + Long.toHexString(System.nanoTime());
        String group = topic + "-group";
        // Heartbeats every 300 ms so members learn of a rebalance quickly while they are busy.
        KafkaTransport kafka = new KafkaTransport(KafkaSettings.of(java.util.Map.of(
                "bootstrapServers", KafkaBroker.shared().bootstrapServers(),
                "consumerProperties", java.util.Map.of("heartbeat.interval.ms", "300"))));
        kafka.admin().createTopics(List.of(new NewTopic(topic, 6, (short) 1))).all().get(60, TimeUnit.SECONDS);
        RecordingTransport transport = new RecordingTransport(kafka);
        DeliveryLog deliveries = new DeliveryLog();
        try (Sluice sluice = Sluice.create(transport, SluiceConfig.of("kafka"))) {
            List<CompletableFuture<Receipt>> sent = new ArrayList<>(MESSAGES);
            for (int seq = 0; seq < MESSAGES / KEYS; seq++) {
                for (int k = 0; k < KEYS; k++) {
                    sent.add(sluice.publisher().publish(topic, Message.builder().key("key-" + k)
                            .payload(new byte[32]).header(DeliveryLog.SEQ, Integer.toString(seq)).build()));
                }
            }
            for (CompletableFuture<Receipt> f : sent) {
                deliveries.published(f.get(60, TimeUnit.SECONDS));
            }

            Handler handler = m -> {
                TimeUnit.MICROSECONDS.sleep(1000 + ThreadLocalRandom.current().nextInt(2000));
                deliveries.handled(m, false);
                transport.finished(m);
            };
            ConsumerOptions options = ConsumerOptions.builder().maxInFlight(16)
                    .commitInterval(Duration.ofMillis(200)).shutdownTimeout(Duration.ofSeconds(20)).build();
            List<Subscription> members = new ArrayList<>();
            members.add(sluice.subscribe(topic, group, handler, options));
            awaitHandled(deliveries, 5_000);
            join(members, sluice.subscribe(topic, group, handler, options)); // takes partitions from the first
            awaitHandled(deliveries, 12_000);
            join(members, sluice.subscribe(topic, group, handler, options));
            awaitHandled(deliveries, 20_000);
            assertThat(members.get(0).close(Duration.ofSeconds(20))).as("first member drained in time").isTrue();
            awaitHandled(deliveries, 28_000);
            join(members, sluice.subscribe(topic, group, handler, options));
            awaitHandled(deliveries, 36_000);
            assertThat(members.get(1).close(Duration.ofSeconds(20))).as("second member drained in time").isTrue();
            log.info("Membership changes done after {} messages handled", deliveries.distinctHandled());

            await().atMost(Duration.ofMinutes(2)).until(deliveries::allHandled);
            List<String> duplicated = deliveries.receipts().keySet().stream()
                    .filter(id -> deliveries.timesHandled(id) > 1).toList();
            log.info("Rebalance run: {} messages, {} revocations, {} handled twice, {} handed over at or above the "
                    + "first unfinished record when partitions were given up", MESSAGES, transport.revocations.get(),
                    duplicated.size(), transport.exposedAtRelease.get());
            assertThat(deliveries.unhandled()).as("lost messages").isEmpty();
            assertThat(deliveries.violations()).as("per-key order violations").isEmpty();
            assertThat(transport.revocations.get()).as("partitions moved between members").isPositive();
            assertThat(transport.losses.get()).as("partitions lost without a commit").isZero();
            assertThat(transport.handedWithoutOwnership).as("records handed for partitions not owned").isEmpty();
            assertThat(transport.commitMismatches)
                    .as("releases whose commit (handed minus committed) did not end at the first unfinished record")
                    .isEmpty();
            assertThat(duplicated).as("messages handled twice that were not exposed by a release")
                    .isSubsetOf(transport.exposed);
            assertThat((long) duplicated.size()).isLessThanOrEqualTo(transport.exposedAtRelease.get());
        }
    }

    /** Adds a member and waits until the group has given it partitions (revoked from the others first). */
    private static void join(List<Subscription> members, Subscription member) {
        members.add(member);
        await().atMost(Duration.ofMinutes(1)).until(() -> !member.assignedPartitions().isEmpty());
    }

    private static void awaitHandled(DeliveryLog deliveries, int count) {
        await().atMost(Duration.ofMinutes(2)).pollInterval(Duration.ofMillis(20))
                .until(() -> deliveries.distinctHandled() >= count);
    }
}
