package io.sluice.observability;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.sluice.DeadLetterException;
import io.sluice.Message;
import io.sluice.Sluice;
import io.sluice.Subscription;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.RetryPolicy;
import io.sluice.config.SluiceConfig;
import io.sluice.memory.MemoryTransport;
import io.micrometer.core.instrument.Tags;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

class SluiceMetricsTest {
    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private final SluiceMetrics metrics = SluiceMetrics.of(registry, Tags.of("app", "test"), Duration.ofMillis(50));
    private final Sluice sluice = Sluice.builder().config(SluiceConfig.of("memory"))
            .transport(new MemoryTransport(2, 1 << 20)).instrumentation(metrics).build();

    @AfterEach
    void close() {
        sluice.close();
        metrics.close();
    }

    @Test
    void shouldCountPublishesHandlerAttemptsRetriesAndDeadLetters() {
        Set<String> failedOnce = ConcurrentHashMap.newKeySet();
        Subscription sub = sluice.subscribe("orders", "billing", m -> {
            String text = m.payloadAsString();
            if (text.equals("poison")) {
                throw new DeadLetterException("cannot bill this");
            }
            if (text.startsWith("flaky") && failedOnce.add(text)) {
                throw new IllegalStateException("downstream timeout");
            }
        }, ConsumerOptions.builder().retry(RetryPolicy.builder().initialDelay(Duration.ofMillis(5))
                .maxDelay(Duration.ofMillis(10)).maxAttempts(3).build()).build());
        for (int i = 0; i < 20; i++) {
            sluice.publisher().publish("orders", Message.of("k" + i, i < 3 ? "flaky-" + i : "ok-" + i)).join();
        }
        sluice.publisher().publish("orders", Message.of("kp", "poison")).join();

        await().atMost(Duration.ofSeconds(10)).until(() -> sub.stats().handled() == 20
                && sub.stats().deadLettered() == 1);
        Timer published = registry.get("sluice.publish").tags("topic", "orders", "result", "ok", "app", "test").timer();
        assertThat(published.count()).isEqualTo(21);
        // 20 successes; 3 flaky first attempts and 1 poison attempt failed.
        assertThat(registry.get("sluice.handler").tags("topic", "orders", "group", "billing", "result", "success")
                .timer().count()).isEqualTo(20);
        assertThat(registry.get("sluice.handler").tags("result", "failure").timer().count()).isEqualTo(4);
        assertThat(counter("sluice.consume.received")).isEqualTo(21);
        assertThat(counter("sluice.consume.handled")).isEqualTo(20);
        assertThat(counter("sluice.consume.retries")).isEqualTo(3);
        assertThat(counter("sluice.consume.dead.letters")).isEqualTo(1);
        // The dead letter itself was published by the engine, not through the instrumented publisher.
        assertThat(registry.find("sluice.publish").tags("topic", "orders.dlq").timer()).isNull();
    }

    @Test
    void shouldReportInFlightAndLagPerPartitionThenRemoveMetersWhenTheSubscriptionEnds() throws Exception {
        for (int i = 0; i < 10; i++) {
            sluice.publisher().publish("jobs", Message.of("k" + i, "v")).join();
        }
        CountDownLatch go = new CountDownLatch(1);
        Subscription sub = sluice.subscribe("jobs", "slow", m -> go.await(),
                ConsumerOptions.builder().maxInFlight(1).build());
        await().atMost(Duration.ofSeconds(10)).until(() -> lag("0") + lag("1") == 9);
        assertThat(registry.get("sluice.consume.in.flight").tags("group", "slow").gauge().value()).isEqualTo(1);

        go.countDown();
        await().atMost(Duration.ofSeconds(10)).until(() -> lag("0") + lag("1") == 0);
        sub.close();
        await().atMost(Duration.ofSeconds(10)).until(() ->
                registry.find("sluice.consume.received").tags("group", "slow").functionCounter() == null
                        && registry.find("sluice.consume.lag").tags("group", "slow").gauge() == null);
    }

    @Test
    void shouldReportAPartitionStalledWhileItsWatermarkStandsOnAnUnfinishedMessage() {
        CountDownLatch release = new CountDownLatch(1);
        Subscription sub = sluice.subscribe("stuck", "slow", m -> release.await(),
                ConsumerOptions.builder().stallWarning(Duration.ofMillis(50)).build());
        int partition = sluice.publisher().publish("stuck", Message.of("k", "v")).join().partition();
        await().atMost(Duration.ofSeconds(10)).until(() -> stalled(partition) == 1);
        assertThat(sub.stats().stalledPartitions()).containsOnlyKeys(partition);
        assertThat(stalled(1 - partition)).as("the other partition, held and not stalled").isZero();

        release.countDown();
        await().atMost(Duration.ofSeconds(10)).until(() -> stalled(partition) == 0);
        assertThat(sub.stats().stalledPartitions()).isEmpty();
    }

    private double stalled(int partition) {
        Gauge g = registry.find("sluice.consumer.stalled").tags("group", "slow", "partition",
                Integer.toString(partition)).gauge();
        return g == null ? Double.NaN : g.value();
    }

    @Test
    void shouldTimeDeferredAttemptsApartFromFailures() {
        java.util.concurrent.atomic.AtomicBoolean refused = new java.util.concurrent.atomic.AtomicBoolean();
        Subscription sub = sluice.subscribe("orders", "billing", m -> { },
                ConsumerOptions.builder().middleware(next -> m -> {
                    if (refused.compareAndSet(false, true)) { // e.g. an open circuit breaker
                        throw io.sluice.RetryLaterException.notAttempted(Duration.ofMillis(5), "breaker open");
                    }
                    next.handle(m);
                }).build());
        sluice.publisher().publish("orders", Message.of("k", "v")).join();
        await().atMost(Duration.ofSeconds(10)).until(() -> sub.stats().handled() == 1);
        assertThat(registry.get("sluice.handler").tags("result", "deferred").timer().count()).isEqualTo(1);
        assertThat(registry.get("sluice.handler").tags("result", "failure").timer().count()).isZero();
        assertThat(registry.get("sluice.handler").tags("result", "success").timer().count()).isEqualTo(1);
    }

    private double counter(String name) {
        FunctionCounter c = registry.get(name).tags("topic", "orders", "group", "billing", "app", "test")
                .functionCounter();
        return c.count();
    }

    private double lag(String partition) {
        Gauge g = registry.find("sluice.consume.lag").tags("group", "slow", "partition", partition).gauge();
        return g == null ? Double.NaN : g.value();
    }
}
