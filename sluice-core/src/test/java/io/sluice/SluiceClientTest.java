package io.sluice;

import io.sluice.codec.JsonCodec;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.DeadLetterPolicy;
import io.sluice.config.RetryPolicy;
import io.sluice.config.SluiceConfig;
import io.sluice.memory.MemoryTransport;
import io.sluice.spi.ConsumerSpec;
import io.sluice.spi.PartitionListener;
import io.sluice.spi.Transport;
import io.sluice.spi.TransportCapabilities;
import io.sluice.spi.TransportConsumer;
import io.sluice.spi.TransportProducer;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/** The client's lifecycle and its subscribe variants, over the in-memory transport. */
class SluiceClientTest {
    private static final Duration WAIT = Duration.ofSeconds(30);

    record Order(String id, int total) {
    }

    /** A memory transport that records when it is closed. */
    private static final class ClosingTransport implements Transport {
        final MemoryTransport memory = new MemoryTransport(1, 1 << 20);
        final List<String> events;

        ClosingTransport(List<String> events) {
            this.events = events;
        }

        @Override
        public String name() {
            return memory.name();
        }

        @Override
        public TransportCapabilities capabilities() {
            return memory.capabilities();
        }

        @Override
        public TransportProducer producer() {
            return memory.producer();
        }

        @Override
        public TransportConsumer consumer(ConsumerSpec spec, PartitionListener listener) {
            return memory.consumer(spec, listener);
        }

        @Override
        public void close() {
            events.add("transport closed");
            memory.close();
        }
    }

    @Test
    void shouldWaitForASubscriptionStillDrainingBeforeClosingPublisherAndTransport() throws Exception {
        List<String> events = new CopyOnWriteArrayList<>();
        ClosingTransport transport = new ClosingTransport(events);
        // The client's default deadline is far shorter than the subscription's own.
        SluiceConfig config = SluiceConfig.of("memory").withConsumer(ConsumerOptions.builder()
                .shutdownTimeout(Duration.ZERO).build());
        Sluice sluice = Sluice.create(transport, config);
        CountDownLatch handling = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        sluice.subscribe("orders", "billing", m -> {
            handling.countDown();
            release.await(1, TimeUnit.MINUTES); // bounded, so a broken close cannot hang the build
            try {
                sluice.publisher().publish("audit", Message.of("k", "billed " + m.payloadAsString())).get();
                events.add("handler published");
            } catch (Exception e) {
                events.add("handler could not publish: " + e.getMessage());
            }
        }, ConsumerOptions.builder().shutdownTimeout(Duration.ofMinutes(1)).build());
        sluice.publisher().publish("orders", Message.of("k", "1")).join();
        assertThat(handling.await(30, TimeUnit.SECONDS)).isTrue();

        Thread closer = Thread.ofPlatform().start(() -> {
            sluice.close();
            events.add("close returned");
        });
        // Interrupting the closing thread must not cut its wait short either: it is the quickest way to make a close
        // that does not wait for the subscription's own deadline close the transport under it.
        closer.interrupt();
        await().atMost(WAIT).until(() -> events.contains("transport closed")
                || (closer.getState() == Thread.State.WAITING && !closer.isInterrupted()));
        release.countDown();
        closer.join(WAIT.toMillis());

        assertThat(events).containsExactly("handler published", "transport closed", "close returned");
    }

    @Test
    void shouldLeaveASharedTransportOpenSoSeveralClientsCanUseIt() throws Exception {
        MemoryTransport transport = new MemoryTransport(2, 1 << 20);
        Sluice first = Sluice.builder().config(SluiceConfig.of("memory")).sharedTransport(transport).build();
        Sluice second = Sluice.builder().config(SluiceConfig.of("memory")).sharedTransport(transport).build();
        List<String> handled = new CopyOnWriteArrayList<>();
        Subscription firstSubscription = first.subscribe("orders", "a", m -> handled.add("a:" + m.payloadAsString()));
        second.subscribe("orders", "b", m -> handled.add("b:" + m.payloadAsString()));
        first.publisher().publish("orders", Message.of("k", "1")).join();
        await().atMost(WAIT).until(() -> handled.size() == 2);

        first.close();
        assertThat(firstSubscription.isEnded()).isTrue();
        second.publisher().publish("orders", Message.of("k", "2")).join();
        await().atMost(WAIT).until(() -> handled.contains("b:2"));
        second.close();

        assertThat(handled).containsExactlyInAnyOrder("a:1", "b:1", "b:2");
        assertThat(transport.endOffset("orders", 0) + transport.endOffset("orders", 1))
                .as("both clients closed, the transport the caller owns still holds its messages").isEqualTo(2);
        transport.close();
    }

    @Test
    void shouldSayThatASubscriptionHasEndedAndLetItBeAwaited() throws Exception {
        try (Sluice sluice = Sluice.create(new MemoryTransport(1, 1 << 20), SluiceConfig.of("memory"))) {
            Subscription subscription = sluice.subscribe("orders", "billing", m -> { });
            CompletableFuture<Void> ended = subscription.whenEnded().toCompletableFuture();
            assertThat(subscription.isEnded()).isFalse();
            assertThat(subscription.awaitEnd(Duration.ZERO)).isFalse();
            assertThat(ended).isNotDone();

            Thread closer = Thread.ofVirtual().start(subscription::close);
            assertThat(subscription.awaitEnd(WAIT)).isTrue();
            assertThat(subscription.isEnded()).isTrue();
            assertThat(ended).isCompleted();
            closer.join();
        }
    }

    @Test
    void shouldRefuseToSubscribeOnAClosedClient() {
        Sluice sluice = Sluice.create(new MemoryTransport(1, 1 << 20), SluiceConfig.of("memory"));
        sluice.close();
        assertThatThrownBy(() -> sluice.subscribe("orders", "billing", m -> { }))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
    }

    @Test
    void shouldSubscribeTypedWithOptionsAndDeadLetterAnUndecodablePayloadWithZeroAttempts() throws Exception {
        try (Sluice sluice = Sluice.create(new MemoryTransport(1, 1 << 20), SluiceConfig.of("memory"))) {
            List<Order> orders = new CopyOnWriteArrayList<>();
            ConsumerOptions options = ConsumerOptions.builder()
                    .retry(RetryPolicy.builder().maxAttempts(3).initialDelay(Duration.ZERO).maxDelay(Duration.ZERO)
                            .build())
                    .deadLetter(DeadLetterPolicy.builder().topic("bad-orders").build()).build();
            sluice.subscribe("orders", "billing", Order.class, (order, message) -> orders.add(order), options);
            List<Message> deadLetters = new CopyOnWriteArrayList<>();
            sluice.subscribe("bad-orders", "audit", deadLetters::add);

            sluice.publisher().publish("orders", sluice.codecs().encode(new Order("o-1", 12)).key("c-1").build()).join();
            sluice.publisher().publish("orders", Message.builder().key("c-1").payload("{not json")
                    .header(Message.CONTENT_TYPE, JsonCodec.CONTENT_TYPE).build()).join();

            await().atMost(WAIT).until(() -> deadLetters.size() == 1);
            assertThat(orders).containsExactly(new Order("o-1", 12));
            Message letter = deadLetters.get(0);
            assertThat(letter.header(DeadLetters.REASON)).isEqualTo(DeadLetters.REASON_UNDECODABLE);
            assertThat(letter.header(DeadLetters.ATTEMPTS)).as("the payload never reached the handler").isEqualTo("0");
            assertThat(letter.header(DeadLetters.FIRST_FAILURE_TIME)).isNotNull();
        }
    }

    @Test
    void shouldRetryForeverWithoutDeadLetteringWhenAttemptsAreUnlimited() throws Exception {
        try (Sluice sluice = Sluice.create(new MemoryTransport(1, 1 << 20), SluiceConfig.of("memory"))) {
            int failures = 1_500; // more than the largest finite maxAttempts (1000)
            AtomicInteger calls = new AtomicInteger();
            AtomicBoolean handled = new AtomicBoolean();
            List<Message> deadLetters = new CopyOnWriteArrayList<>();
            sluice.subscribe("orders.dlq", "audit", deadLetters::add);
            Subscription subscription = sluice.subscribe("orders", "billing", m -> {
                if (calls.incrementAndGet() <= failures) {
                    throw new IllegalStateException("downstream unavailable");
                }
                handled.set(true);
            }, ConsumerOptions.builder().retry(RetryPolicy.builder().retryForever().initialDelay(Duration.ZERO)
                    .maxDelay(Duration.ZERO).build()).build());
            sluice.publisher().publish("orders", Message.of("k", "1")).join();

            await().atMost(WAIT).untilTrue(handled);
            assertThat(calls.get()).isEqualTo(failures + 1);
            await().atMost(WAIT).until(() -> subscription.stats().handled() == 1);
            assertThat(subscription.stats().retried()).isEqualTo(failures);
            assertThat(subscription.stats().deadLettered()).isZero();
            assertThat(deadLetters).isEmpty();
        }
    }
    @Test
    void shouldEndEverySubscriptionItStartedBeforeCloseReturnsThoughSubscribesRaceTheClose() throws Exception {
        for (int round = 0; round < 30; round++) {
            List<Subscription> started = new CopyOnWriteArrayList<>();
            Sluice sluice = Sluice.builder().transport(new MemoryTransport(1, 1 << 20))
                    .config(SluiceConfig.of("memory")).instrumentation(new Instrumentation() {
                        @Override
                        public void subscribed(Subscription subscription) {
                            started.add(subscription);
                        }
                    }).build();
            AtomicInteger refused = new AtomicInteger();
            Thread subscriber = Thread.ofPlatform().start(() -> {
                try {
                    for (int i = 0; i < 10_000; i++) { // bounded; ends at the first refusal once close began
                        sluice.subscribe("orders", "g" + i, m -> { });
                    }
                } catch (IllegalStateException closed) {
                    refused.incrementAndGet();
                }
            });
            await().atMost(WAIT).until(() -> started.size() >= 2);

            sluice.close();

            List<Subscription> running = started.stream().filter(sub -> !sub.isEnded()).toList();
            subscriber.join();
            assertThat(refused).as("round %d: subscribing after close is refused", round).hasValue(1);
            assertThat(running).as("round %d: subscriptions still running when close returned (the publisher and "
                    + "transport were closed under them)", round).isEmpty();
        }
    }
}
