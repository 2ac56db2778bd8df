package io.sluice.rabbitmq;

import io.sluice.Message;
import io.sluice.RetryLaterException;
import io.sluice.Sluice;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.RetryPolicy;
import io.sluice.config.SluiceConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Native delay through TTL queues: a retry-after at least {@code nativeDelayThreshold} long goes to the group's delay
 * tier and comes back to the tail of its partition queue, with its attempts counted by Sluice.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class RabbitMqNativeDelayTest {
    @Test
    void shouldRedeliverThroughADelayTierAfterTheKeysLaterMessagesWithTheAttemptCounted() {
        String topic = "delay-" + Long.toHexString(System.nanoTime());
        RabbitMqTransport transport = new RabbitMqTransport(RabbitMqTestServer.settings()
                .delayTiers(Duration.ofMillis(300), Duration.ofSeconds(2)).build());
        assertThat(transport.capabilities().nativeDelay()).isTrue();
        try (Sluice sluice = Sluice.create(transport, SluiceConfig.of("rabbitmq"))) {
            List<String> handled = new CopyOnWriteArrayList<>();
            List<String> attempts = new CopyOnWriteArrayList<>();
            ConsumerOptions options = ConsumerOptions.builder().retry(RetryPolicy.builder().maxAttempts(3)
                    .nativeDelayThreshold(Duration.ofMillis(100)).build()).build();
            sluice.subscribe(topic, "g", m -> {
                String body = m.payloadAsString();
                attempts.add(body);
                if (body.equals("first") && attempts.stream().filter("first"::equals).count() == 1) {
                    throw new RetryLaterException(Duration.ofMillis(250), "not yet");
                }
                handled.add(body);
            }, options);
            sluice.publisher().publish(topic, Message.builder().key("k").payload("first").header("h", "v").build())
                    .join();
            for (int i = 0; i < 5; i++) {
                sluice.publisher().publish(topic, Message.of("k", "later-" + i)).join();
            }
            await().atMost(Duration.ofSeconds(60)).until(() -> handled.contains("first"));
            assertThat(handled).as("the key's later messages ran while the first waited in the delay tier")
                    .containsExactly("later-0", "later-1", "later-2", "later-3", "later-4", "first");
            assertThat(attempts.stream().filter("first"::equals).count()).as("attempts of the delayed message")
                    .isEqualTo(2);
            String depth = RabbitMqTestServer.get().rabbitmqctl("list_queues", "name", "messages");
            assertThat(depth).contains(Topology.delayQueue(topic, "g", 300) + "\t0");
        }
    }
}
