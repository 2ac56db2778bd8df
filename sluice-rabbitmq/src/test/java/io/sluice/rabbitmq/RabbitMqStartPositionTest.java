package io.sluice.rabbitmq;

import io.sluice.Message;
import io.sluice.Sluice;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.SluiceConfig;
import io.sluice.config.StartPosition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Where a new group starts on RabbitMQ (docs/rabbitmq.md, "Topology"): messages published before any group existed
 * wait in the unclaimed queues for the first group that starts from {@code earliest}; a {@code latest} group leaves
 * them; a group joining a topic that already has groups starts with what is published from then on.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class RabbitMqStartPositionTest {
    private static final Duration WAIT = Duration.ofSeconds(60);

    @Test
    void shouldKeepEarlyMessagesForTheFirstEarliestGroupAndStartLaterGroupsFromThen() {
        String topic = "start-" + Long.toHexString(System.nanoTime());
        try (Sluice sluice = Sluice.create(new RabbitMqTransport(RabbitMqTestServer.settings().build()),
                SluiceConfig.of("rabbitmq"))) {
            for (int i = 0; i < 20; i++) {
                sluice.publisher().publish(topic, Message.of("key-" + (i % 5), "early-" + i)).join();
            }
            List<String> latest = new CopyOnWriteArrayList<>();
            sluice.subscribe(topic, "latest", m -> latest.add(m.payloadAsString()),
                    ConsumerOptions.builder().startFrom(StartPosition.LATEST).build());
            List<String> first = new CopyOnWriteArrayList<>();
            sluice.subscribe(topic, "first", m -> first.add(m.payloadAsString()));
            await().atMost(WAIT).until(() -> first.size() == 20);
            assertThat(first).allMatch(p -> p.startsWith("early-"));

            List<String> late = new CopyOnWriteArrayList<>();
            sluice.subscribe(topic, "late", m -> late.add(m.payloadAsString()));
            for (int i = 0; i < 10; i++) {
                sluice.publisher().publish(topic, Message.of("key-" + (i % 5), "after-" + i)).join();
            }
            await().atMost(WAIT).until(() -> first.size() == 30 && late.size() == 10 && latest.size() == 10);
            assertThat(late).as("a group joining a topic with groups").allMatch(p -> p.startsWith("after-"));
            assertThat(latest).as("a latest group").allMatch(p -> p.startsWith("after-"));
        }
    }
}
