package io.sluice;

import io.sluice.config.ConsumerOptions;
import io.sluice.config.RetryPolicy;
import io.sluice.config.SluiceConfig;
import io.sluice.memory.MemoryTransport;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** How instrumentation plugs into a client: what it wraps, what it is told, and what it must not touch. */
class InstrumentationTest {
    private final List<String> calls = new CopyOnWriteArrayList<>();
    private final List<Message> publishedThroughInstrumentation = new CopyOnWriteArrayList<>();

    private final Instrumentation recording = new Instrumentation() {
        @Override
        public Publisher publisher(Publisher publisher) {
            return new ForwardingPublisher(publisher) {
                @Override
                public java.util.concurrent.CompletableFuture<Receipt> publish(String topic, Message message) {
                    publishedThroughInstrumentation.add(message);
                    return publisher.publish(topic, message.toBuilder().header("instrumented", "yes").build());
                }
            };
        }

        @Override
        public Handler handler(String topic, String group, Handler handler) {
            return m -> {
                calls.add("instrumentation:" + topic + "/" + group);
                handler.handle(m);
            };
        }

        @Override
        public void subscribed(Subscription subscription) {
            calls.add("subscribed:" + subscription.group());
        }

        @Override
        public void ended(Subscription subscription) {
            calls.add("ended:" + subscription.group());
        }
    };

    @Test
    void shouldWrapPublisherAndHandlerOutsideTheSubscriptionsMiddleware() throws Exception {
        try (Sluice sluice = Sluice.builder().config(SluiceConfig.of("memory")).transport(new MemoryTransport(1, 1 << 20))
                .instrumentation(recording).build()) {
            ConsumerOptions options = ConsumerOptions.builder()
                    .middleware(next -> m -> {
                        calls.add("middleware");
                        next.handle(m);
                    }).build();
            List<Message> received = new CopyOnWriteArrayList<>();
            Subscription sub = sluice.subscribe("orders", "billing", m -> {
                calls.add("handler");
                received.add(m);
            }, options);
            sluice.publisher().publish("orders", Message.of("k", "v")).join();
            await().atMost(Duration.ofSeconds(10)).until(() -> received.size() == 1);

            assertThat(publishedThroughInstrumentation).hasSize(1);
            assertThat(received.get(0).headers().get("instrumented")).isEqualTo("yes");
            assertThat(calls).containsExactly("subscribed:billing", "instrumentation:orders/billing", "middleware",
                    "handler");
            sub.close();
            await().atMost(Duration.ofSeconds(10)).until(() -> calls.contains("ended:billing"));
        }
    }

    @Test
    void shouldPublishDeadLettersWithTheOriginalHeadersBypassingInstrumentation() {
        try (Sluice sluice = Sluice.builder().config(SluiceConfig.of("memory")).transport(new MemoryTransport(1, 1 << 20))
                .instrumentation(recording).build()) {
            List<Message> letters = new CopyOnWriteArrayList<>();
            sluice.subscribe("orders.dlq", "reader", letters::add, ConsumerOptions.defaults());
            sluice.subscribe("orders", "billing", m -> {
                throw new DeadLetterException("poison");
            }, ConsumerOptions.builder().retry(RetryPolicy.builder().maxAttempts(1).build()).build());
            // Straight to the transport's producer: the original carries no instrumentation header.
            sluice.transport().producer().send("orders", Message.builder().id("m-1").key("k").payload("x")
                    .header("origin", "test").timestampMillis(1).build()).join();
            await().atMost(Duration.ofSeconds(10)).until(() -> letters.size() == 1);
            assertThat(letters.get(0).headers().get("origin")).isEqualTo("test");
            assertThat(letters.get(0).headers().get("instrumented")).as("dead letter went through instrumentation")
                    .isNull();
            assertThat(publishedThroughInstrumentation).isEmpty();
        }
    }

    @Test
    void shouldReportLagPerPartition() throws Exception {
        MemoryTransport transport = new MemoryTransport(2, 1 << 20);
        try (Sluice sluice = Sluice.builder().config(SluiceConfig.of("memory")).transport(transport).build()) {
            for (int i = 0; i < 10; i++) {
                sluice.publisher().publish("jobs", Message.of("k" + i, "v")).join();
            }
            java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
            Subscription sub = sluice.subscribe("jobs", "slow", m -> go.await(),
                    ConsumerOptions.builder().maxInFlight(1).build());
            // One message fetched and held by the handler: the other nine are lag, over both partitions.
            await().atMost(Duration.ofSeconds(10)).until(() -> total(sub.lag()) == 9 && sub.lag().size() == 2);
            go.countDown();
            await().atMost(Duration.ofSeconds(10)).until(() -> total(sub.lag()) == 0);
            sub.close();
        }
    }

    private static long total(Map<Integer, Long> lag) {
        return lag.values().stream().mapToLong(Long::longValue).sum();
    }
}
