package io.sluice.internal.engine;

import io.sluice.DeadLetters;
import io.sluice.Handler;
import io.sluice.Message;
import io.sluice.RetryLaterException;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.PublisherOptions;
import io.sluice.config.RetryPolicy;
import io.sluice.internal.publish.BoundedPublisher;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** Engine behaviour on per-message-ack transports and with native delayed redelivery. */
class ConsumerEngineTest {
    private ConsumerEngine engine;

    @AfterEach
    void close() {
        if (engine != null) {
            engine.close(Duration.ofSeconds(5));
        }
    }

    private ConsumerEngine start(ScriptedTransport transport, Handler handler, ConsumerOptions options) {
        BoundedPublisher publisher = new BoundedPublisher(transport.producer(), PublisherOptions.defaults());
        engine = new ConsumerEngine(transport, "orders", "g", "m-1", handler, options, publisher, EngineObserver.NONE);
        return engine;
    }

    private static ConsumerOptions.Builder options() {
        return ConsumerOptions.builder().retry(RetryPolicy.builder().initialDelay(Duration.ofMillis(5))
                .maxDelay(Duration.ofMillis(10)).maxAttempts(3).build());
    }

    @Test
    void shouldAckHandledAndReportDeadLetteredSeparately() {
        ScriptedTransport t = new ScriptedTransport(false);
        start(t, m -> {
            if (m.payloadAsString().equals("bad")) {
                throw new IllegalStateException("nope");
            }
        }, options().build());
        long good = t.offer(Message.of("a", "good"));
        long bad = t.offer(Message.of("b", "bad"));
        await().until(() -> t.acked.contains(good) && t.deadLettered.contains(bad));
        assertThat(t.acked).containsExactly(good);
        assertThat(t.published).singleElement()
                .satisfies(m -> assertThat(m.header(DeadLetters.REASON)).isEqualTo(DeadLetters.REASON_RETRIES_EXHAUSTED));
    }

    @Test
    void shouldEndForEveryWaiterThoughClosingTheTransportThrowsAnError() {
        ScriptedTransport t = new ScriptedTransport(false);
        t.closeError = new AssertionError("the transport's close failed badly"); // an Error, not an exception
        start(t, m -> { }, options().build());
        java.util.concurrent.CompletableFuture<Void> ended = engine.whenEnded().toCompletableFuture();
        java.util.concurrent.CompletableFuture<Boolean> endedSeenByDependent = ended.thenApply(v -> engine.isEnded());

        Thread.startVirtualThread(() -> engine.close(Duration.ofSeconds(1)));

        // The Error goes on to end the owner thread, uncaught, as it should: not this test's failure.
        await().dontCatchUncaughtExceptions().until(ended::isDone);
        assertThat(endedSeenByDependent.join()).as("isEnded agrees with whenEnded").isTrue();
        await().dontCatchUncaughtExceptions().until(() -> engine.awaitEnd(Duration.ZERO));
        assertThat(engine.isEnded()).isTrue();
    }

    @Test
    void shouldDeadLetterARedeliveredUndecodableMessageWithZeroAttempts() {
        ScriptedTransport t = new ScriptedTransport(false);
        start(t, m -> {
            // what a typed handler's decoding throws before the user's handler is called
            throw new io.sluice.UndecodableMessageException("not an order", null);
        }, options().build());
        Message m = Message.of("k", "{not json").withDefaults(System.currentTimeMillis());
        t.inbound.add(new ScriptedTransport.Inbound(m, 0, 3)); // e.g. a JetStream redelivery after a restart

        await().until(() -> t.deadLettered.contains(0L));
        assertThat(t.published).singleElement().satisfies(letter -> {
            assertThat(letter.header(DeadLetters.REASON)).isEqualTo(DeadLetters.REASON_UNDECODABLE);
            assertThat(letter.header(DeadLetters.ATTEMPTS)).as("the handler never ran").isEqualTo("0");
        });
    }

    @Test
    void shouldAckNoMessageBeforeItsHandlerFinished() {
        ScriptedTransport t = new ScriptedTransport(false);
        java.util.Set<String> failedOnce = ConcurrentHashMap.newKeySet();
        start(t, m -> {
            java.util.concurrent.TimeUnit.MICROSECONDS.sleep(java.util.concurrent.ThreadLocalRandom.current()
                    .nextInt(2000));
            if (m.payloadAsString().endsWith("3") && failedOnce.add(m.id())) {
                throw new IllegalStateException("fails once"); // a failed attempt is not a finished handler
            }
            t.finished(m);
        }, options().maxInFlight(32).build());
        for (int i = 0; i < 200; i++) {
            t.offer(Message.of("key-" + (i % 13), "m" + i));
        }
        await().until(() -> t.acked.size() == 200);
        assertThat(t.violations).as("acks before the handler finished").isEmpty();
    }

    @Test
    void shouldHandBackRevokedPartitionsWithinTheTransportsLimitEvenWithALongerShutdownTimeout() throws Exception {
        ScriptedTransport t = new ScriptedTransport(false);
        t.maxRevokeTime = Duration.ofMillis(200); // e.g. Kafka's max.poll.interval.ms, halved
        CountDownLatch started = new CountDownLatch(1);
        CountDownLatch stuck = new CountDownLatch(1);
        java.util.concurrent.atomic.AtomicBoolean interrupted = new java.util.concurrent.atomic.AtomicBoolean();
        start(t, m -> {
            started.countDown();
            try {
                stuck.await();
            } catch (InterruptedException e) {
                interrupted.set(true);
                throw e;
            }
        }, options().shutdownTimeout(Duration.ofHours(1)).build());
        long offset = t.offer(Message.of("k", "slow"));
        assertThat(started.await(10, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
        t.revokeNext = true;
        t.inbound.add(new ScriptedTransport.Inbound(null, -1, 0)); // wakes a poll that waits for records
        // With a one-hour shutdownTimeout, a revocation that ends at all kept to the transport's limit.
        await().until(() -> t.revokeNanos >= 0);
        assertThat(interrupted.get()).as("the running attempt was cancelled at the limit").isTrue();
        assertThat(t.released).as("the unfinished message goes back to the broker").contains(offset);
        assertThat(t.acked).isEmpty();
        stuck.countDown();
    }

    @Test
    void shouldNotSpendAttemptsOnRetriesTheHandlerWasNotCalledFor() {
        ScriptedTransport t = new ScriptedTransport(false);
        AtomicInteger deferrals = new AtomicInteger();
        AtomicInteger calls = new AtomicInteger();
        start(t, m -> {
            if (deferrals.incrementAndGet() <= 10) { // e.g. an open breaker refusing the call ten times
                throw RetryLaterException.notAttempted(Duration.ofMillis(1), "breaker open");
            }
            if (calls.incrementAndGet() < 3) {
                throw new IllegalStateException("still failing");
            }
        }, options().build()); // maxAttempts 3
        long offset = t.offer(Message.of("k", "x"));
        await().until(() -> t.acked.contains(offset) || t.deadLettered.contains(offset));
        assertThat(t.deadLettered).as("ten refusals spent no attempts: the third real attempt succeeded").isEmpty();
        assertThat(calls.get()).isEqualTo(3);
    }

    @Test
    void shouldHandLongRetriesToTheTransportAndCountEarlierDeliveries() {
        ScriptedTransport t = new ScriptedTransport(true);
        Map<String, AtomicInteger> calls = new ConcurrentHashMap<>();
        start(t, m -> {
            calls.computeIfAbsent(m.id(), k -> new AtomicInteger()).incrementAndGet();
            throw new RetryLaterException(Duration.ofMillis(5), "still down"); // at or above the threshold
        }, options().retry(RetryPolicy.builder().initialDelay(Duration.ofMillis(5)).maxDelay(Duration.ofMillis(10))
                .maxAttempts(3).nativeDelayThreshold(Duration.ofNanos(1_000_000)).build()).build());
        Message m = Message.builder().id("m-1").key("k").payload("x").build();
        long offset = t.offer(m);

        await().until(() -> t.deadLettered.contains(offset));
        assertThat(t.handedOff).extracting(r -> r.attemptsMade()).containsExactly(1, 2);
        assertThat(calls.get("m-1").get()).as("three attempts across native redeliveries").isEqualTo(3);
        assertThat(t.published).singleElement()
                .satisfies(l -> assertThat(l.header(DeadLetters.ATTEMPTS)).isEqualTo("3"));
        assertThat(t.acked).as("a hand-off is not an ack").isEmpty();
    }

    @Test
    void shouldRetryInMemoryWhenTheHandOffFails() {
        ScriptedTransport t = new ScriptedTransport(true);
        t.failHandOff = true;
        AtomicInteger attempts = new AtomicInteger();
        start(t, m -> {
            if (attempts.incrementAndGet() < 2) {
                throw new RetryLaterException(Duration.ofMillis(5), "once");
            }
        }, options().retry(RetryPolicy.builder().initialDelay(Duration.ofMillis(5)).maxDelay(Duration.ofMillis(10))
                .maxAttempts(3).nativeDelayThreshold(Duration.ofMillis(1)).build()).build());
        long offset = t.offer(Message.of("k", "x"));
        await().until(() -> t.acked.contains(offset));
        assertThat(t.handedOff).hasSize(1);
        assertThat(attempts.get()).isEqualTo(2);
    }

    @Test
    void shouldReleaseRunningAndWaitingMessagesWhenCloseDeadlinePasses() throws Exception {
        ScriptedTransport t = new ScriptedTransport(false);
        CountDownLatch running = new CountDownLatch(1);
        ConsumerEngine e = start(t, m -> {
            running.countDown();
            Thread.sleep(Duration.ofMinutes(5));
        }, options().build());
        long first = t.offer(Message.of("same", "1"));
        long second = t.offer(Message.of("same", "2"));
        running.await();
        await().until(() -> e.stats().received() == 2);
        boolean drained = e.close(Duration.ofMillis(50));
        engine = null;
        assertThat(drained).isFalse();
        assertThat(t.released).containsExactlyInAnyOrder(first, second);
        assertThat(t.acked).isEmpty();
    }

    @Test
    void shouldStartAtTheTransportsDeliveryAttempt() {
        ScriptedTransport t = new ScriptedTransport(false);
        AtomicInteger attempts = new AtomicInteger();
        start(t, m -> {
            attempts.incrementAndGet();
            throw new IllegalStateException("fails");
        }, options().build());
        t.inbound.add(new ScriptedTransport.Inbound(Message.builder().id("r").key("k").payload("x").build(), 7, 3));
        await().until(() -> t.deadLettered.contains(7L));
        assertThat(attempts.get()).as("the 3rd delivery of a 3-attempt policy gets one last try").isEqualTo(1);
        assertThat(List.copyOf(t.published)).singleElement()
                .satisfies(l -> assertThat(l.header(DeadLetters.ATTEMPTS)).isEqualTo("3"));
    }

    @Test
    void shouldKeepOwningTheMessageUntilItsDeadLetterIsConfirmed() {
        ScriptedTransport t = new ScriptedTransport(false);
        t.publishFailures.set(2);
        List<String> order = new java.util.concurrent.CopyOnWriteArrayList<>();
        start(t, m -> {
            order.add(m.payloadAsString());
            if (m.payloadAsString().equals("poison")) {
                throw new io.sluice.DeadLetterException("rejected");
            }
        }, options().build());
        long poison = t.offer(Message.of("k", "poison"));
        long next = t.offer(Message.of("k", "next"));
        await().until(() -> t.acked.contains(next));
        assertThat(t.publishFailures.get()).as("both failing publishes were tried").isZero();
        assertThat(t.published).hasSize(1);
        assertThat(t.deadLettered).containsExactly(poison);
        assertThat(order).as("the key's next message waited for the confirmed dead letter")
                .containsExactly("poison", "next");
    }

    @Test
    void shouldKeepWorkingWhenAnObserverThrows() {
        ScriptedTransport t = new ScriptedTransport(false);
        BoundedPublisher publisher = new BoundedPublisher(t.producer(), PublisherOptions.defaults());
        engine = new ConsumerEngine(t, "orders", "g", "m-1", m -> { }, options().build(), publisher,
                new EngineObserver() {
                    @Override
                    public void finished(long latencyNanos, boolean deadLettered) {
                        throw new IllegalStateException("metrics backend down");
                    }
                });
        long a = t.offer(Message.of("k", "1"));
        long b = t.offer(Message.of("k", "2"));
        await().until(() -> t.acked.containsAll(List.of(a, b)));
        assertThat(engine.close(Duration.ofSeconds(5))).as("drained in time").isTrue();
        engine = null;
    }

    @Test
    void shouldNotStartTheKeysNextMessageWhileATimedOutAttemptIgnoresInterruption() throws Exception {
        ScriptedTransport t = new ScriptedTransport(false);
        AtomicInteger running = new AtomicInteger();
        AtomicInteger peak = new AtomicInteger();
        List<String> starts = new java.util.concurrent.CopyOnWriteArrayList<>();
        CountDownLatch interruptIgnored = new CountDownLatch(1);
        CountDownLatch letItReturn = new CountDownLatch(1);
        java.util.concurrent.atomic.AtomicBoolean firstAttempt = new java.util.concurrent.atomic.AtomicBoolean(true);
        start(t, m -> {
            String payload = m.payloadAsString();
            starts.add(payload);
            if (!m.key().equals("k")) {
                return;
            }
            peak.accumulateAndGet(running.incrementAndGet(), Math::max);
            try {
                if (payload.equals("stubborn") && firstAttempt.compareAndSet(true, false)) {
                    // Ignores interruption, like a blocking call that cannot be interrupted: runs on after the
                    // engine timed it out (its interrupt arrived) until the test lets it return. Parked, not
                    // spinning, so it holds no carrier thread meanwhile.
                    while (true) {
                        try {
                            letItReturn.await();
                            break;
                        } catch (InterruptedException e) {
                            interruptIgnored.countDown();
                        }
                    }
                }
            } finally {
                running.decrementAndGet();
            }
        }, options().handlerTimeout(Duration.ofMillis(50)).build());
        long stubborn = t.offer(Message.of("k", "stubborn"));
        long next = t.offer(Message.of("k", "next"));
        assertThat(interruptIgnored.await(10, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
        // Another key's message handled after the timeout shows the engine went on working meanwhile.
        long other = t.offer(Message.of("other", "other"));
        await().until(() -> t.acked.contains(other));
        assertThat(starts).as("nothing of key k started while its timed-out attempt runs")
                .containsExactly("stubborn", "other");

        letItReturn.countDown();
        await().until(() -> t.acked.containsAll(List.of(stubborn, next)));
        assertThat(peak.get()).as("attempts of one key never overlap").isEqualTo(1);
        assertThat(starts).as("timed out once, retried after it returned, then the next message")
                .containsExactly("stubborn", "other", "stubborn", "next");
    }
}
