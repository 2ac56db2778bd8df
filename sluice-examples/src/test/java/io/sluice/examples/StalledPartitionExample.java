package io.sluice.examples;

import io.sluice.Message;
import io.sluice.Receipt;
import io.sluice.Sluice;
import io.sluice.Subscription;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.SluiceConfig;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** One message that does not finish holds back only its partition's commits, and the subscription says which. */
class StalledPartitionExample {

    @Test
    void seeWhichPartitionIsStuckAndWhere() {
        CountDownLatch dependencyBack = new CountDownLatch(1);
        AtomicInteger invoiced = new AtomicInteger();
        try (Sluice sluice = Sluice.create(SluiceConfig.of("memory"))) {
            Subscription sub = sluice.subscribe("invoices", "billing", m -> {
                if (m.key().equals("customer-7")) {
                    dependencyBack.await(); // a call that hangs on one customer's data
                }
                invoiced.incrementAndGet();
            }, ConsumerOptions.builder().stallWarning(Duration.ofMillis(200)).build());

            Receipt stuck = sluice.publisher().publish("invoices", Message.of("customer-7", "invoice 1")).join();
            for (int i = 0; i < 20; i++) {
                sluice.publisher().publish("invoices", Message.of("customer-" + (100 + i), "invoice")).join();
            }
            await().until(() -> invoiced.get() == 20); // every other customer is invoiced meanwhile

            // After stallWarning the engine logs a WARN naming topic, partition and offset, the meter
            // sluice.consumer.stalled reads 1 for the partition, and stats() says where the watermark stands.
            await().until(() -> !sub.stats().stalledPartitions().isEmpty());
            Map<Integer, Long> stalled = sub.stats().stalledPartitions();
            assertThat(stalled).containsExactly(Map.entry(stuck.partition(), stuck.offset()));

            dependencyBack.countDown();
            await().until(() -> sub.stats().stalledPartitions().isEmpty());
        }
    }
}
