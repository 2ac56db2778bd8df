package io.sluice.internal.publish;

import io.sluice.Message;
import io.sluice.PublishException;
import io.sluice.Receipt;
import io.sluice.config.PublisherOptions;
import io.sluice.spi.TransientTransportException;
import io.sluice.spi.TransportProducer;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The publisher over a scripted {@link TransportProducer} (Sluice's own SPI, not a broker client): its futures are
 * completed by the test, so the bound and the retries can be observed exactly.
 */
class BoundedPublisherTest {
    /** Holds every send until the test completes it. */
    private static final class HeldProducer implements TransportProducer {
        final List<CompletableFuture<Receipt>> sends = new CopyOnWriteArrayList<>();
        final List<Message> messages = new CopyOnWriteArrayList<>();

        @Override
        public CompletableFuture<Receipt> send(String topic, Message message) {
            CompletableFuture<Receipt> f = new CompletableFuture<>();
            sends.add(f);
            messages.add(message);
            return f;
        }
    }

    @Test
    void shouldFailWithClearErrorWhenNoRoomWithinTimeout() {
        HeldProducer producer = new HeldProducer();
        BoundedPublisher publisher = new BoundedPublisher(producer, PublisherOptions.builder()
                .maxPendingPublishes(2).publishTimeout(Duration.ofMillis(100)).build());
        CompletableFuture<Receipt> first = publisher.publish("t", Message.of("k", "1"));
        publisher.publish("t", Message.of("k", "2"));
        long t0 = System.nanoTime();
        CompletableFuture<Receipt> third = publisher.publish("t", Message.of("k", "3"));
        assertThat((System.nanoTime() - t0) / 1_000_000).as("publish waited for room").isGreaterThanOrEqualTo(90);
        assertThat(third).isCompletedExceptionally();
        assertThat(third.exceptionNow()).isInstanceOf(PublishException.class)
                .hasMessageContaining("gave up after waiting 100ms for room: 2 publishes are unacknowledged "
                        + "(publisher.maxPendingPublishes=2, publisher.publishTimeout=100ms)");
        assertThat(producer.sends).hasSize(2);

        producer.sends.get(0).complete(new Receipt("t", 0, 0, "id"));
        assertThat(first).isCompleted();
        CompletableFuture<Receipt> fourth = publisher.publish("t", Message.of("k", "4"));
        assertThat(fourth).isNotDone();
        assertThat(producer.sends).as("room freed by the acknowledgement").hasSize(3);
    }

    @Test
    void shouldAssignUuidV7IdAndTimestamp() {
        HeldProducer producer = new HeldProducer();
        BoundedPublisher publisher = new BoundedPublisher(producer, PublisherOptions.defaults());
        publisher.publish("t", Message.of("k", "x"));
        Message sent = producer.messages.get(0);
        assertThat(sent.id()).matches("[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
        assertThat(sent.timestampMillis()).isPositive();
    }

    @Test
    void shouldRetryTransientFailureThenSucceed() {
        AtomicInteger calls = new AtomicInteger();
        TransportProducer flaky = (topic, m) -> calls.incrementAndGet() < 3
                ? CompletableFuture.failedFuture(new TransientTransportException("leader moved"))
                : CompletableFuture.completedFuture(new Receipt(topic, 1, 42, m.id()));
        BoundedPublisher publisher = new BoundedPublisher(flaky, PublisherOptions.builder()
                .retryBackoff(Duration.ofMillis(1)).retryMaxBackoff(Duration.ofMillis(5)).build());
        Receipt r = publisher.publish("t", Message.of("k", "x")).join();
        assertThat(r.offset()).isEqualTo(42);
        assertThat(calls.get()).isEqualTo(3);
        assertThat(publisher.pendingCount()).isZero();
    }

    @Test
    void shouldFailAfterRetriesRunOutNamingTheCause() {
        TransportProducer down = (topic, m) -> CompletableFuture.failedFuture(new TransientTransportException("broker down"));
        BoundedPublisher publisher = new BoundedPublisher(down, PublisherOptions.builder().maxRetries(2)
                .retryBackoff(Duration.ofMillis(1)).retryMaxBackoff(Duration.ofMillis(2)).build());
        CompletableFuture<Receipt> f = publisher.publish("orders", Message.of("k", "x"));
        await().until(f::isDone);
        assertThat(f.exceptionNow()).isInstanceOf(PublishException.class)
                .hasMessageContaining("to topic orders failed after 2 retries: broker down");
        assertThat(publisher.pendingCount()).isZero();
    }

    @Test
    void shouldNotRetryPermanentFailure() {
        AtomicInteger calls = new AtomicInteger();
        TransportProducer rejecting = (topic, m) -> {
            calls.incrementAndGet();
            return CompletableFuture.failedFuture(new IllegalStateException("record too large"));
        };
        BoundedPublisher publisher = new BoundedPublisher(rejecting, PublisherOptions.defaults());
        CompletableFuture<Receipt> f = publisher.publish("t", Message.of("k", "x"));
        assertThat(f.exceptionNow()).isInstanceOf(PublishException.class).hasMessageContaining("record too large");
        assertThat(calls.get()).isEqualTo(1);
    }

    @Test
    void shouldFlushThenFailWhatTheBrokerNeverConfirmedOnClose() throws Exception {
        HeldProducer producer = new HeldProducer();
        BoundedPublisher publisher = new BoundedPublisher(producer, PublisherOptions.builder()
                .publishTimeout(Duration.ofMillis(50)).build());
        CompletableFuture<Receipt> confirmed = publisher.publish("t", Message.of("k", "1"));
        CompletableFuture<Receipt> lost = publisher.publish("t", Message.of("k", "2"));
        producer.sends.get(0).complete(new Receipt("t", 0, 0, "a"));
        assertThat(publisher.flush(Duration.ofMillis(20))).isFalse();
        publisher.close();
        assertThat(confirmed).isCompleted();
        assertThat(lost.exceptionNow()).hasMessageContaining("publisher closed before the broker confirmed");
        assertThat(publisher.publish("t", Message.of("k", "3")).exceptionNow()).hasMessageContaining("publisher is closed");
    }

    @Test
    void shouldStillFlushAndFailAPublishOutlivedByManyNewerOnes() throws Exception {
        HeldProducer producer = new HeldProducer();
        BoundedPublisher publisher = new BoundedPublisher(producer, PublisherOptions.builder()
                .maxPendingPublishes(4).publishTimeout(Duration.ofMillis(50)).build());
        CompletableFuture<Receipt> slow = publisher.publish("t", Message.of("k", "slow"));
        for (int i = 0; i < 100; i++) { // far more than the registry's ring of 8 slots
            publisher.publish("t", Message.of("k", "fast-" + i));
            producer.sends.get(i + 1).complete(new Receipt("t", 0, i + 1, "id"));
        }
        assertThat(publisher.pendingCount()).isEqualTo(1);
        assertThat(publisher.flush(Duration.ofMillis(20))).as("flush still waits for the slow publish").isFalse();
        publisher.close();
        assertThat(slow.exceptionNow()).hasMessageContaining("publisher closed before the broker confirmed");
    }

    /**
     * Many more publishing threads than cores race {@code close()}, so some are descheduled at every point of a
     * publish when close runs. Until close begins the transport answers each send at once (confirms it, or fails it
     * transiently so a retry is scheduled); from then on it answers nothing, as a transport closed right after its
     * publisher would not. Whatever the interleaving, every returned future settles and every permit comes back.
     */
    @Test
    void shouldSettleEveryFutureAndReturnEveryPermitWhenPublishesRaceClose() throws Exception {
        int publishers = 16;
        int perPublisher = 2_000;
        for (int round = 0; round < 30; round++) {
            AtomicInteger sends = new AtomicInteger();
            java.util.concurrent.atomic.AtomicBoolean answering = new java.util.concurrent.atomic.AtomicBoolean(true);
            TransportProducer producer = (topic, m) -> {
                if (!answering.get()) {
                    return new CompletableFuture<>();
                }
                return sends.incrementAndGet() % 4 == 0
                        ? CompletableFuture.failedFuture(new TransientTransportException("leader moved"))
                        : CompletableFuture.completedFuture(new Receipt(topic, 0, 0, m.id()));
            };
            BoundedPublisher publisher = new BoundedPublisher(producer, PublisherOptions.builder()
                    .maxPendingPublishes(1024).publishTimeout(Duration.ofMillis(5)).maxRetries(1000)
                    .retryBackoff(Duration.ofNanos(1000)).retryMaxBackoff(Duration.ofNanos(1000)).build());
            @SuppressWarnings("unchecked")
            CompletableFuture<Receipt>[][] futures = new CompletableFuture[publishers][perPublisher];
            CountDownLatch started = new CountDownLatch(publishers);
            Message message = Message.of("k", "x");
            Thread[] threads = new Thread[publishers];
            for (int t = 0; t < publishers; t++) {
                CompletableFuture<Receipt>[] mine = futures[t];
                threads[t] = Thread.ofPlatform().start(() -> {
                    started.countDown();
                    for (int i = 0; i < mine.length; i++) {
                        mine[i] = publisher.publish("t", message);
                    }
                });
            }
            started.await();
            while (sends.get() < 1_000) {
                Thread.onSpinWait();
            }
            answering.set(false);
            publisher.close();
            for (Thread t : threads) {
                t.join();
            }
            int r = round;
            await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
                for (CompletableFuture<Receipt>[] mine : futures) {
                    assertThat(mine).as("round %d: every future settled", r).allMatch(CompletableFuture::isDone);
                }
                assertThat(publisher.pendingCount()).as("round %d: every permit returned", r).isZero();
            });
        }
    }
}
