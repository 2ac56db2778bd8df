package io.sluice.nats;

import io.sluice.Handler;
import io.sluice.Message;
import io.sluice.Receipt;
import io.sluice.Sluice;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.SluiceConfig;
import io.sluice.testkit.DeliveryLog;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** A group member that dies without letting go: its partitions move after the session timeout, in key order. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class JetStreamFailoverTest {

    /**
     * The ack wait (5 s) is longer than the session timeout (3 s), so the crashed member's unacknowledged messages
     * are not yet due for redelivery when the survivor takes over: without holding its first pull, the survivor would
     * handle later messages of those keys first.
     */
    @Test
    void shouldTakeOverPartitionsOfCrashedMemberKeepingKeyOrderAndLosingNothing() {
        String url = NatsTestServer.get().url();
        NatsTransport crashing = new NatsTransport(NatsTestServer.settings(url).ackWait(Duration.ofSeconds(5)).build());
        NatsTransport survivor = new NatsTransport(NatsTestServer.settings(url).ackWait(Duration.ofSeconds(5)).build());
        String topic = "failover-" + Long.toHexString(System.nanoTime());
        String group = "g";
        DeliveryLog log = new DeliveryLog();
        try (Sluice a = Sluice.create(crashing, SluiceConfig.of("nats"));
             Sluice b = Sluice.create(survivor, SluiceConfig.of("nats"))) {
            List<CompletableFuture<Receipt>> sent = new ArrayList<>();
            for (int seq = 0; seq < 20; seq++) {
                for (int k = 0; k < 60; k++) {
                    sent.add(b.publisher().publish(topic, Message.builder().key("key-" + k).payload("x")
                            .header(DeliveryLog.SEQ, Integer.toString(seq)).build()));
                }
            }
            sent.forEach(f -> log.published(f.join()));

            AtomicBoolean crashed = new AtomicBoolean();
            CountDownLatch never = new CountDownLatch(1);
            // Handles 300 messages, then stops as a dead process does (its handlers never return), so the crash
            // always comes with most of the backlog still to go, however fast or slow this machine is.
            Handler dying = m -> {
                if (crashed.get() || log.distinctHandled() >= 300) {
                    never.await();
                }
                log.handled(m, false);
            };
            ConsumerOptions options = ConsumerOptions.builder().maxInFlight(20)
                    .shutdownTimeout(Duration.ofSeconds(1)).build();
            a.subscribe(topic, group, dying, options);
            await().atMost(Duration.ofSeconds(60)).until(() -> log.distinctHandled() >= 300);

            crashed.set(true);
            crashing.connection().close(); // no more acks, naks, heartbeats or lease releases from this member

            b.subscribe(topic, group, m -> log.handled(m, false), options);
            await().atMost(Duration.ofSeconds(60)).until(() -> log.allHandled() || !log.violations().isEmpty());
            assertThat(log.violations()).as("key order across the takeover").isEmpty();
            assertThat(log.unhandled()).as("lost messages").isEmpty();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }
}
