package io.sluice.nats;

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
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Issue 9, defect 1: a partition that moves right after a drain longer than the pull expiry keeps its keys in order.
 * No pull request may outlive the ownership it was sent under: before the fix, the pull sent right after a long
 * {@code revoked()} callback was stamped with the time read before the callback, so the member stopped counting it at
 * once while the server kept it alive for a whole pull expiry; when that partition moved next, the server handed its
 * messages to the old member's still-live pull, and the new owner got later messages of the same key first (and the
 * others only after they were released again, or one ack wait later).
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class JetStreamHandOverTest {
    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final int PARTITIONS = 3;

    @Test
    void shouldKeepKeyOrderWhenAPartitionMovesRightAfterADrainLongerThanThePullExpiry() throws Exception {
        String url = NatsTestServer.get().url();
        // The ack wait is twice the time the test allows for handling: a message parked on a dead pull shows as a
        // time-out here, not as a late success.
        NatsSettings settings = NatsSettings.builder().server(url)
                .group(Duration.ofMillis(200), Duration.ofSeconds(3))
                .pullExpiry(Duration.ofSeconds(1))
                .ackWait(Duration.ofSeconds(60))
                .build();
        String topic = "handover-" + Long.toHexString(System.nanoTime());
        String group = "g";
        String[] keys = NatsTestServer.keysPerPartition(PARTITIONS);
        DeliveryLog log = new DeliveryLog();
        CountDownLatch draining = new CountDownLatch(1);
        CountDownLatch endDrain = new CountDownLatch(1);
        Handler handler = m -> {
            log.started(m);
            try {
                if (m.header("drain") != null) {
                    draining.countDown();
                    endDrain.await(); // the revoking member waits for this handler inside revoked()
                }
                log.handled(m, false);
            } finally {
                log.ended(m);
            }
        };
        ConsumerOptions options = ConsumerOptions.builder().maxInFlight(8).shutdownTimeout(Duration.ofSeconds(30))
                .build();
        long pullLifeNanos = 2 * settings.pullExpiry.toNanos(); // expiry plus grace (the grace is the expiry here)
        // One client: its members are named <group>-1, -2, -3 and sort in subscription order, so the assignment is
        // known: alone the first has all three partitions; with the second it keeps 0 and 2 and revokes 1; with the
        // third it keeps only 0.
        try (NatsTransport nats = new NatsTransport(settings);
             RevocationRecordingTransport transport = new RevocationRecordingTransport(nats);
             Sluice sluice = Sluice.create(transport, SluiceConfig.of("nats"))) {
            Subscription first = sluice.subscribe(topic, group, handler, options);
            await().atMost(WAIT).until(() -> first.assignedPartitions().size() == PARTITIONS);
            log.published(sluice.publisher().publish(topic, Message.builder().key(keys[1]).payload("slow")
                    .header("drain", "yes").header(DeliveryLog.SEQ, "0").build()).join());
            draining.await();

            Subscription second = sluice.subscribe(topic, group, handler, options);
            // The first member now revokes partition 1 and waits in revoked() until endDrain. The interleaving that
            // broke key order needs three things before the drain ends, each awaited as an observed event: the
            // first member is inside that callback; the third member is in the group, so the first gives partition
            // 2 up right after the callback; and the callback has outlasted a pull's life (expiry plus grace) since
            // it began, so before the fix the pull sent right after it was stamped with a deadline already past.
            // Nothing is asserted about time.
            await().atMost(WAIT).until(() -> transport.revokeStarted(group + "-1", 1) != 0);
            long revokeStarted = transport.revokeStarted(group + "-1", 1);
            Subscription third = sluice.subscribe(topic, group, handler, options);
            String members = Names.escape(topic) + "." + Names.escape(group) + ".m.";
            await().atMost(WAIT).until(() -> nats.groupBucket().keys().stream()
                    .filter(k -> k.startsWith(members)).count() == 3); // three heartbeats stored
            // A lower bound since an observed event, which a slow machine only lengthens.
            await().atMost(WAIT).until(() -> System.nanoTime() - revokeStarted > pullLifeNanos);
            assertThat(transport.revokeEnded(group + "-1", 1)).as("the first member still inside revoked([1])")
                    .isFalse();
            endDrain.countDown();

            await().atMost(WAIT).until(() -> third.assignedPartitions().equals(Set.of(2))
                    && second.assignedPartitions().equals(Set.of(1)) && first.assignedPartitions().equals(Set.of(0)));
            List<CompletableFuture<Receipt>> sent = new ArrayList<>();
            for (int seq = 0; seq < 40; seq++) {
                sent.add(sluice.publisher().publish(topic, Message.builder().key(keys[2]).payload("after")
                        .header(DeliveryLog.SEQ, Integer.toString(seq)).build()));
            }
            sent.forEach(f -> log.published(f.join()));

            await().atMost(WAIT).until(() -> log.allHandled() || !log.violations().isEmpty());
            assertThat(log.violations()).as("per-key order across the hand-over").isEmpty();
            assertThat(log.unhandled()).as("messages not handled (parked on a pull the old owner no longer reads)")
                    .isEmpty();
        } finally {
            endDrain.countDown();
        }
    }
}
