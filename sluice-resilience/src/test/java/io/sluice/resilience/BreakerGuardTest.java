package io.sluice.resilience;

import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.circuitbreaker.CircuitBreakerConfig;
import io.sluice.Message;
import io.sluice.Sluice;
import io.sluice.Subscription;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.RetryPolicy;
import io.sluice.config.SluiceConfig;
import io.sluice.memory.MemoryTransport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

class BreakerGuardTest {
    private final Sluice sluice = Sluice.builder().config(SluiceConfig.of("memory"))
            .transport(new MemoryTransport(1, 1 << 20)).build();
    private final CircuitBreaker breaker = CircuitBreaker.of("payments-api", CircuitBreakerConfig.custom()
            .slidingWindowSize(10).minimumNumberOfCalls(5).failureRateThreshold(50)
            .waitDurationInOpenState(Duration.ofMillis(300)).permittedNumberOfCallsInHalfOpenState(2).build());
    private final BreakerGuard guard = BreakerGuard.of(breaker, Duration.ofMillis(20), Duration.ofMillis(20));

    @AfterEach
    void close() {
        guard.close();
        sluice.close();
    }

    @Test
    void shouldPauseDuringAnOutageAndDeliverEverythingAfterwardsWithoutDeadLetters() {
        AtomicBoolean down = new AtomicBoolean(true);
        AtomicInteger callsWhileDown = new AtomicInteger();
        Set<String> handled = ConcurrentHashMap.newKeySet();
        List<Message> deadLetters = new CopyOnWriteArrayList<>();
        AtomicInteger opened = new AtomicInteger();
        breaker.getEventPublisher().onStateTransition(e -> {
            if (e.getStateTransition().getToState() == CircuitBreaker.State.OPEN) {
                opened.incrementAndGet();
            }
        });
        sluice.subscribe("payments.dlq", "audit", deadLetters::add);
        Subscription sub = sluice.subscribe("payments", "ledger", m -> {
            if (down.get()) {
                callsWhileDown.incrementAndGet();
                throw new IllegalStateException("payments-api: connection refused");
            }
            handled.add(m.payloadAsString());
        }, ConsumerOptions.builder().maxInFlight(4)
                // Probes spend attempts: 2 per half-open state over 4 cycles, plus the failures that open it first.
                .retry(RetryPolicy.builder().initialDelay(Duration.ofMillis(5)).maxDelay(Duration.ofMillis(20))
                        .maxAttempts(20).build())
                .middleware(guard.middleware()).build());
        guard.pauses(sub);

        for (int i = 0; i < 200; i++) {
            sluice.publisher().publish("payments", Message.of("customer-" + (i % 20), "payment-" + i)).join();
        }
        // The breaker opens after a handful of failures and the subscription pauses.
        await().atMost(Duration.ofSeconds(10)).until(() -> breaker.getState() == CircuitBreaker.State.OPEN
                && sub.isPaused());
        // While it is down, half-open probes keep failing and the breaker opens again: three more times here.
        int callsWhenOpened = callsWhileDown.get();
        await().atMost(Duration.ofSeconds(10)).until(() -> opened.get() >= 4);
        assertThat(sub.isPaused() || breaker.getState() == CircuitBreaker.State.HALF_OPEN).isTrue();
        assertThat(callsWhileDown.get() - callsWhenOpened).as("calls into the dead dependency over three probes")
                .isLessThanOrEqualTo(3 * 2 + 4); // two permitted per half-open state, plus those in flight

        down.set(false);
        await().atMost(Duration.ofSeconds(30)).until(() -> handled.size() == 200);
        assertThat(breaker.getState()).isEqualTo(CircuitBreaker.State.CLOSED);
        assertThat(sub.isPaused()).isFalse();
        assertThat(deadLetters).as("an outage defers messages; it does not dead-letter them").isEmpty();
        assertThat(sub.stats().deadLettered()).isZero();
    }

    @Test
    void shouldMakeTheBreakerTheOnlyStopWhenAttemptsAreUnlimited() {
        AtomicBoolean down = new AtomicBoolean(true);
        Set<String> handled = ConcurrentHashMap.newKeySet();
        List<Message> deadLetters = new CopyOnWriteArrayList<>();
        AtomicInteger opened = new AtomicInteger();
        breaker.getEventPublisher().onStateTransition(e -> {
            if (e.getStateTransition().getToState() == CircuitBreaker.State.OPEN) {
                opened.incrementAndGet();
            }
        });
        sluice.subscribe("payments.dlq", "audit", deadLetters::add);
        // consumer.retry.maxAttempts: unlimited: no attempt budget to size against the length of an outage.
        Subscription sub = sluice.subscribe("payments", "ledger", m -> {
            if (down.get()) {
                throw new IllegalStateException("payments-api: connection refused");
            }
            handled.add(m.payloadAsString());
        }, ConsumerOptions.builder().maxInFlight(4)
                .retry(RetryPolicy.builder().retryForever().initialDelay(Duration.ofMillis(5))
                        .maxDelay(Duration.ofMillis(20)).build())
                .middleware(guard.middleware()).build());
        guard.pauses(sub);
        for (int i = 0; i < 50; i++) {
            sluice.publisher().publish("payments", Message.of("customer-" + (i % 10), "payment-" + i)).join();
        }
        await().atMost(Duration.ofSeconds(20)).until(() -> opened.get() >= 5); // five open states, probes failing

        down.set(false);
        await().atMost(Duration.ofSeconds(30)).until(() -> handled.size() == 50);
        assertThat(deadLetters).as("retrying forever, an outage dead-letters nothing").isEmpty();
        assertThat(sub.stats().deadLettered()).isZero();
    }

    @Test
    void shouldDeadLetterAPoisonMessageThatFailsEveryProbe() {
        List<Message> deadLetters = new CopyOnWriteArrayList<>();
        sluice.subscribe("payments.dlq", "audit", deadLetters::add);
        Subscription sub = sluice.subscribe("payments", "ledger", m -> {
            throw new IllegalStateException("a bug in the handler, not an outage");
        }, ConsumerOptions.builder().maxInFlight(1)
                .retry(RetryPolicy.builder().initialDelay(Duration.ofMillis(5)).maxDelay(Duration.ofMillis(10))
                        .maxAttempts(8).build())
                .middleware(guard.middleware()).build());
        guard.pauses(sub);
        sluice.publisher().publish("payments", Message.of("k", "poison")).join();
        await().atMost(Duration.ofSeconds(20)).until(() -> deadLetters.size() == 1);
        assertThat(deadLetters.get(0).headers().get(io.sluice.DeadLetters.ATTEMPTS)).isEqualTo("8");
    }

    @Test
    void shouldNotCountAMessagesOwnFaultAgainstTheDependency() {
        Subscription sub = sluice.subscribe("payments", "ledger", m -> {
            throw new io.sluice.DeadLetterException("malformed payment");
        }, ConsumerOptions.builder().middleware(guard.middleware()).build());
        guard.pauses(sub);
        for (int i = 0; i < 20; i++) {
            sluice.publisher().publish("payments", Message.of("k" + i, "bad-" + i)).join();
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> sub.stats().deadLettered() == 20);
        assertThat(breaker.getState()).isEqualTo(CircuitBreaker.State.CLOSED);
        assertThat(breaker.getMetrics().getNumberOfFailedCalls()).isZero();
    }
}
