package io.sluice.examples;

import io.sluice.Receipt;
import io.sluice.Sluice;
import io.sluice.config.SluiceConfig;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** Configure from YAML, subscribe with a typed handler, publish JSON with a key. */
class QuickStartExample {
    record Order(String id, String customer, int quantity) {
    }

    @Test
    void publishAndConsumeTypedMessages() {
        SluiceConfig config = SluiceConfig.parse("""
                transport: memory
                memory:
                  partitions: 4
                consumer:
                  maxInFlight: 100
                """, "example");
        List<Order> billed = new CopyOnWriteArrayList<>();
        try (Sluice sluice = Sluice.create(config)) {
            sluice.subscribe("orders", "billing", Order.class, (order, message) -> billed.add(order));

            Order order = new Order("o-1", "customer-42", 3);
            Receipt receipt = sluice.publisher()
                    .publish("orders", sluice.codecs().encode(order).key(order.customer()).build())
                    .join();
            System.out.printf("stored %s in partition %d at offset %d%n", receipt.messageId(), receipt.partition(),
                    receipt.offset());

            await().until(() -> billed.size() == 1);
            assertThat(billed).containsExactly(order);
        }
    }
}
