package io.sluice.rabbitmq;

import io.sluice.Message;
import io.sluice.PublishException;
import io.sluice.Receipt;
import io.sluice.Sluice;
import io.sluice.Subscription;
import io.sluice.brokers.rabbitmq.RabbitMqServer;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.PublisherOptions;
import io.sluice.config.SluiceConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The broker restarts mid-run (rabbitmqctl shutdown, then the same node on the same ports and data): connections
 * recover by themselves, no message whose publish was confirmed is lost, per-key order of first handlings holds, and
 * the subscription resumes without being told.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class RabbitMqBrokerRestartTest {
    private static final Duration WAIT = Duration.ofSeconds(90);

    @Test
    void shouldLoseNoConfirmedMessageAndResumeTheSubscriptionAcrossABrokerRestart() throws Exception {
        RabbitMqServer server = RabbitMqTestServer.get();
        String topic = "restart-" + Long.toHexString(System.nanoTime());
        try (Sluice sluice = Sluice.create(new RabbitMqTransport(RabbitMqTestServer.settings().build()),
                SluiceConfig.of("rabbitmq").withPublisher(PublisherOptions.builder().maxRetries(40)
                        .retryBackoff(Duration.ofMillis(100)).retryMaxBackoff(Duration.ofSeconds(1)).build()))) {
            Map<String, Integer> handled = new ConcurrentHashMap<>();
            Map<String, List<String>> firstHandlingsPerKey = new ConcurrentHashMap<>();
            Subscription sub = sluice.subscribe(topic, "g", m -> {
                if (handled.merge(m.id(), 1, Integer::sum) == 1) {
                    firstHandlingsPerKey.computeIfAbsent(m.key(), k -> new CopyOnWriteArrayList<>()).add(m.id());
                }
            }, ConsumerOptions.builder().maxInFlight(100).build());

            int total = 1500;
            List<CompletableFuture<Receipt>> futures = new ArrayList<>();
            for (int i = 0; i < total; i++) {
                futures.add(sluice.publisher().publish(topic, Message.builder().key("key-" + (i % 30))
                        .header("seq", Integer.toString(i)).payload("m" + i).build()));
                if (i == total / 3) {
                    await().atMost(WAIT).until(() -> handled.size() >= total / 6); // consuming is under way
                    server.stop();
                }
                if (i == total / 2) {
                    server.restart();
                }
            }
            List<String> confirmed = new ArrayList<>();
            Map<String, Long> offsets = new ConcurrentHashMap<>();
            List<Throwable> failed = new ArrayList<>();
            for (CompletableFuture<Receipt> f : futures) {
                try {
                    Receipt r = f.get(120, TimeUnit.SECONDS);
                    confirmed.add(r.messageId());
                    offsets.put(r.messageId(), r.offset());
                } catch (ExecutionException e) {
                    failed.add(e.getCause());
                }
            }
            assertThat(failed).as("failed publishes").allSatisfy(t -> assertThat(t).isInstanceOf(PublishException.class));
            assertThat(confirmed.size()).as("publishes confirmed across the restart (retried while it was down)")
                    .isGreaterThan(total / 2);

            await().atMost(WAIT).until(() -> handled.keySet().containsAll(confirmed));
            assertThat(sub.assignedPartitions()).as("the subscription resumed with its partitions").isNotEmpty();
            // Per-key order is the order in the partition queue, i.e. of the offsets the publisher gave at the publish
            // that was confirmed (a publish retried while the broker was down lands after later ones: that is
            // publish order, which retries change). Messages handed back when the connection dropped come again;
            // a first handling never goes backwards.
            List<String> orderViolations = new ArrayList<>();
            firstHandlingsPerKey.forEach((key, ids) -> {
                long last = -1;
                for (String id : ids) {
                    Long offset = offsets.get(id);
                    if (offset != null) {
                        if (offset < last) {
                            orderViolations.add(key + ": offset " + offset + " after " + last);
                        }
                        last = offset;
                    }
                }
            });
            assertThat(orderViolations).as("per-key order of first handlings").isEmpty();
        }
    }

    /**
     * The broker closes every client connection (as a network blip or an operator would) and the clients recover
     * within a fraction of a second: the subscription takes its partitions again and handles everything.
     */
    @Test
    void shouldResumeTheSubscriptionAfterTheBrokerClosedItsConnections() {
        RabbitMqServer server = RabbitMqTestServer.get();
        String topic = "blip-" + Long.toHexString(System.nanoTime());
        try (Sluice sluice = Sluice.create(new RabbitMqTransport(RabbitMqTestServer.settings().build()),
                SluiceConfig.of("rabbitmq").withPublisher(PublisherOptions.builder().maxRetries(40)
                        .retryBackoff(Duration.ofMillis(50)).retryMaxBackoff(Duration.ofMillis(500)).build()))) {
            Map<String, Integer> handled = new ConcurrentHashMap<>();
            Subscription sub = sluice.subscribe(topic, "g", m -> handled.merge(m.id(), 1, Integer::sum));
            List<String> ids = new ArrayList<>();
            for (int i = 0; i < 200; i++) {
                ids.add(sluice.publisher().publish(topic, Message.of("key-" + (i % 10), "a" + i)).join().messageId());
            }
            await().atMost(WAIT).until(() -> handled.keySet().containsAll(ids));
            server.rabbitmqctl("close_all_connections", "test: connection blip");
            for (int i = 0; i < 200; i++) {
                ids.add(sluice.publisher().publish(topic, Message.of("key-" + (i % 10), "b" + i)).join().messageId());
            }
            await().atMost(WAIT).until(() -> handled.keySet().containsAll(ids));
            assertThat(sub.assignedPartitions()).hasSize(4);
        }
    }
}
