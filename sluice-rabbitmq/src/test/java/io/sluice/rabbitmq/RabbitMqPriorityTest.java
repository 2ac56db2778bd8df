package io.sluice.rabbitmq;

import io.sluice.Message;
import io.sluice.PublishException;
import io.sluice.Sluice;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.SluiceConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/** Native priority: classic partition queues with x-max-priority; the {@code priority} header is the AMQP priority. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class RabbitMqPriorityTest {
    @Test
    void shouldDeliverTheHigherPriorityMessageFirstFromAClassicPriorityQueue() {
        String topic = "priority-" + Long.toHexString(System.nanoTime());
        RabbitMqTransport transport = new RabbitMqTransport(RabbitMqTestServer.settings().partitions(1)
                .queueType(RabbitMqSettings.QueueType.CLASSIC).maxPriority(9).prefetch(1).build());
        try (Sluice sluice = Sluice.create(transport, SluiceConfig.of("rabbitmq"))) {
            for (int i = 0; i < 5; i++) {
                sluice.publisher().publish(topic, Message.builder().payload("low-" + i).header("priority", "1")
                        .build()).join();
            }
            sluice.publisher().publish(topic, Message.builder().payload("high").header("priority", "9").build())
                    .join();
            assertThatThrownBy(() -> sluice.publisher().publish(topic, Message.builder().payload("x")
                    .header("priority", "10").build()).join())
                    .isInstanceOf(CompletionException.class).cause().isInstanceOf(PublishException.class)
                    .hasMessageContaining("rabbitmq.maxPriority");

            assertThatThrownBy(() -> sluice.publisher().publish(topic, Message.builder().payload("x")
                    .header("x-sluice-offset", "1").build()).join())
                    .cause().isInstanceOf(PublishException.class).hasMessageContaining("reserved");

            List<String> handled = new CopyOnWriteArrayList<>();
            sluice.subscribe(topic, "g", m -> handled.add(m.payloadAsString()),
                    ConsumerOptions.builder().maxInFlight(1).shutdownTimeout(Duration.ofSeconds(5)).build());
            await().atMost(Duration.ofSeconds(60)).until(() -> handled.size() == 6);
            assertThat(handled).containsExactly("high", "low-0", "low-1", "low-2", "low-3", "low-4");
        }
    }
}
