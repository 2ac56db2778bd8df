package io.sluice.rabbitmq;

import io.sluice.Message;
import io.sluice.Receipt;
import io.sluice.Sluice;
import io.sluice.Subscription;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.SluiceConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * One group whose members sit on separate transports (separate connections, as separate processes would): they find
 * each other through the broker, split the partition queues, and hand them over in order when one leaves; two groups
 * on one topic each get every message.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class RabbitMqGroupAcrossProcessesTest {
    private static final Duration WAIT = Duration.ofSeconds(60);

    private static Sluice client() {
        return Sluice.create(new RabbitMqTransport(RabbitMqTestServer.settings().build()), SluiceConfig.of("rabbitmq"));
    }

    @Test
    void shouldSplitPartitionsAcrossProcessesHandThemOverInOrderAndGiveEachGroupEveryMessage() {
        String topic = "procs-" + Long.toHexString(System.nanoTime());
        try (Sluice a = client(); Sluice b = client(); Sluice publisher = client()) {
            Map<String, Integer> handledBilling = new ConcurrentHashMap<>();
            Map<String, List<Integer>> seqPerKey = new ConcurrentHashMap<>();
            List<String> overlap = new CopyOnWriteArrayList<>();
            Set<String> running = ConcurrentHashMap.newKeySet();
            ConsumerOptions options = ConsumerOptions.builder().maxInFlight(20).shutdownTimeout(Duration.ofSeconds(10))
                    .build();
            io.sluice.Handler billing = m -> {
                if (!running.add(m.key())) {
                    overlap.add(m.key());
                }
                try {
                    Thread.sleep(1);
                    if (handledBilling.merge(m.id(), 1, Integer::sum) == 1) {
                        seqPerKey.computeIfAbsent(m.key(), k -> new CopyOnWriteArrayList<>())
                                .add(Integer.parseInt(m.headers().get("seq")));
                    }
                } finally {
                    running.remove(m.key());
                }
            };
            Map<String, Integer> handledAudit = new ConcurrentHashMap<>();
            Subscription first = a.subscribe(topic, "billing", billing, options);
            Subscription second = b.subscribe(topic, "billing", billing, options);
            b.subscribe(topic, "audit", m -> handledAudit.merge(m.id(), 1, Integer::sum));
            await().atMost(WAIT).until(() -> !first.assignedPartitions().isEmpty()
                    && !second.assignedPartitions().isEmpty()
                    && first.assignedPartitions().size() + second.assignedPartitions().size() == 4);
            Set<Integer> union = new HashSet<>(first.assignedPartitions());
            union.addAll(second.assignedPartitions());
            assertThat(union).as("the two processes split the four partition queues").hasSize(4);

            List<CompletableFuture<Receipt>> sent = new ArrayList<>();
            for (int seq = 0; seq < 60; seq++) {
                for (int k = 0; k < 20; k++) {
                    sent.add(publisher.publisher().publish(topic, Message.builder().key("key-" + k)
                            .header("seq", Integer.toString(seq)).payload("p").build()));
                }
                if (seq == 30) {
                    first.close(Duration.ofSeconds(10)); // process a leaves: b takes over its queues
                }
            }
            Set<String> ids = new HashSet<>();
            sent.forEach(f -> ids.add(f.join().messageId()));

            await().atMost(WAIT).until(() -> handledBilling.keySet().containsAll(ids));
            await().atMost(WAIT).until(() -> handledAudit.keySet().containsAll(ids));
            assertThat(second.assignedPartitions()).as("b owns every partition once a left").hasSize(4);
            assertThat(overlap).as("a key handled by two members at once").isEmpty();
            seqPerKey.forEach((key, seqs) -> assertThat(seqs).as("first handlings of %s in publish order", key)
                    .isSorted());
        }
    }
}
