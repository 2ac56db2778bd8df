package io.sluice.examples;

import io.sluice.Message;
import io.sluice.Sluice;
import io.sluice.Subscription;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.SluiceConfig;
import io.sluice.memory.MemoryTransport;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Two clients over one transport the application owns, a typed subscription with its own options (retrying forever),
 * and waiting for a subscription to end.
 */
class ClientLifecycleExample {
    record Payment(String id, int cents) {
    }

    @Test
    void shareATransportRetryForeverAndAwaitTheEnd() throws Exception {
        SluiceConfig config = SluiceConfig.parse("""
                transport: memory
                consumer:
                  retry:
                    maxAttempts: unlimited   # never dead-letter for running out of attempts
                    initialDelay: 10ms
                    maxDelay: 1s
                """, "example");
        // The application owns the transport: each client leaves it open on close, the application closes it last.
        try (MemoryTransport transport = new MemoryTransport(4, 1 << 20);
             Sluice payments = Sluice.builder().config(config).sharedTransport(transport).build();
             Sluice audit = Sluice.builder().config(config).sharedTransport(transport).build()) {

            AtomicInteger gatewayCalls = new AtomicInteger();
            List<Payment> settled = new CopyOnWriteArrayList<>();
            ConsumerOptions options = config.consumer().toBuilder().maxInFlight(50).build();
            Subscription settling = payments.subscribe("payments", "settlement", Payment.class, (payment, message) -> {
                if (gatewayCalls.incrementAndGet() <= 3) {
                    throw new IllegalStateException("gateway unavailable"); // retried, however often it fails
                }
                settled.add(payment);
            }, options);
            List<String> audited = new CopyOnWriteArrayList<>();
            audit.subscribe("payments", "audit", m -> audited.add(m.id()));

            Payment payment = new Payment("p-1", 1250);
            payments.publisher().publish("payments", payments.codecs().encode(payment).key("card-7").build()).join();
            await().until(() -> settled.size() == 1 && audited.size() == 1);

            settling.close(Duration.ofSeconds(5));
            assertThat(settling.awaitEnd(Duration.ofSeconds(5))).isTrue();
            assertThat(settling.isEnded()).isTrue();
            System.out.printf("settled %s after %d gateway calls; %d dead letters%n", settled.get(0),
                    gatewayCalls.get(), settling.stats().deadLettered());

            // The other client keeps working on the shared transport.
            audit.publisher().publish("payments", Message.of("card-8", "refund")).join();
            await().until(() -> audited.size() == 2);
            assertThat(settling.stats().deadLettered()).isZero();
        }
    }
}
