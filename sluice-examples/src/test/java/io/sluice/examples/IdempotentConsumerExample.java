package io.sluice.examples;

import io.sluice.Message;
import io.sluice.Sluice;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.SluiceConfig;
import io.sluice.middleware.Deduplicate;
import io.sluice.middleware.Timing;
import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** Middleware wraps the handler, first added outermost: timing around deduplication around the handler. */
class IdempotentConsumerExample {

    @Test
    void skipMessagesAlreadyHandled() {
        AtomicInteger emailsSent = new AtomicInteger();
        AtomicLong attempts = new AtomicLong();
        ConsumerOptions options = ConsumerOptions.builder()
                .middleware(Timing.recordTo((nanos, ok) -> attempts.incrementAndGet()))
                .middleware(Deduplicate.lastHandled(100_000))
                .build();
        try (Sluice sluice = Sluice.create(SluiceConfig.of("memory"))) {
            sluice.subscribe("signups", "welcome-mail", m -> emailsSent.incrementAndGet(), options);
            Message signup = Message.builder().id("signup-7").key("user-7").payload("ada@example.com").build();
            sluice.publisher().publish("signups", signup).join();
            sluice.publisher().publish("signups", signup).join(); // a redelivery, or a producer retry
            await().until(() -> attempts.get() == 2);
            assertThat(emailsSent.get()).isEqualTo(1);
        }
    }
}
