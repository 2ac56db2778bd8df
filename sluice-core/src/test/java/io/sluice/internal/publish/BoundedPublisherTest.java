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
}
