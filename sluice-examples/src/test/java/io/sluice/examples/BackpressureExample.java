package io.sluice.examples;

import io.sluice.Message;
import io.sluice.PublishException;
import io.sluice.Sluice;
import io.sluice.Subscription;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.PublisherOptions;
import io.sluice.config.SluiceConfig;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** Bounded in-flight work, pausing a subscription, and graceful close. */
class BackpressureExample {

    @Test
    void boundPauseAndDrain() {
        SluiceConfig config = SluiceConfig.of("memory")
                .withPublisher(PublisherOptions.builder().maxPendingPublishes(1000)
                        .publishTimeout(Duration.ofSeconds(5)).build());
        AtomicInteger running = new AtomicInteger();
        AtomicInteger peak = new AtomicInteger();
        AtomicInteger done = new AtomicInteger();
        try (Sluice sluice = Sluice.create(config)) {
            Subscription sub = sluice.subscribe("thumbnails", "renderer", m -> {
                peak.accumulateAndGet(running.incrementAndGet(), Math::max);
                Thread.sleep(5); // the render call
                running.decrementAndGet();
                done.incrementAndGet();
            }, ConsumerOptions.builder().maxInFlight(8).build());

            sub.pause(); // e.g. while a downstream dependency is in maintenance
            for (int i = 0; i < 200; i++) {
                sluice.publisher().publish("thumbnails", Message.of(("image-" + i).getBytes()))
                        .exceptionally(e -> {
                            if (e.getCause() instanceof PublishException full) {
                                System.out.println("publisher full: " + full.getMessage());
                            }
                            return null;
                        });
            }
            assertThat(done.get()).isZero();
            sub.resume();
            await().until(() -> done.get() > 50);
            assertThat(sub.close(Duration.ofSeconds(10))).as("running renders finished before close returned").isTrue();
            assertThat(peak.get()).isLessThanOrEqualTo(8);
        }
    }
}
