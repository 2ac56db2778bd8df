package io.sluice.redis;

import io.sluice.DeadLetters;
import io.sluice.Message;
import io.sluice.config.StartPosition;
import io.sluice.spi.ConsumerSpec;
import io.sluice.spi.PartitionListener;
import io.sluice.spi.TransportConsumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Poison by crash: a message whose consumer never reaches an outcome (it crashes, hangs or is abandoned each time)
 * is dead-lettered from its delivery count in {@code XPENDING}, instead of coming back for ever.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class RedisPoisonTest {
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final long POLL_NANOS = TimeUnit.MILLISECONDS.toNanos(100);

    private final String topic = "poison-" + System.nanoTime();
    private final RedisTransport transport = new RedisTransport(RedisTestServer.settings(RedisTestServer.get())
            .maxDeliveries(3).build());

    @AfterEach
    void close() {
        transport.close();
    }

    private TransportConsumer consumer(String t, String group) {
        return transport.consumer(new ConsumerSpec(t, group, "m", StartPosition.EARLIEST), new PartitionListener() {
            @Override
            public void assigned(Collection<Integer> partitions) {
            }

            @Override
            public void revoked(Collection<Integer> partitions) {
            }

            @Override
            public void lost(Collection<Integer> partitions) {
            }
        });
    }

    private static List<Message> pollUntil(TransportConsumer c, int count, List<Object> handles) {
        List<Message> got = new ArrayList<>();
        await().atMost(WAIT).pollInSameThread().until(() -> {
            c.poll(100, Long.MAX_VALUE, true, POLL_NANOS, (m, p, offset, size, attempt, handle) -> {
                got.add(m);
                handles.add(handle);
            });
            return got.size() >= count;
        });
        return got;
    }

    @Test
    void shouldDeadLetterAMessageDeliveredMaxDeliveriesTimesWithoutAnOutcome() {
        transport.producer().send(topic, Message.builder().id("poison-1").key("k").payload("boom").build()).join();
        for (int delivery = 1; delivery <= 3; delivery++) {
            TransportConsumer c = consumer(topic, "g");
            List<Message> got = pollUntil(c, 1, new ArrayList<>());
            assertThat(got).extracting(Message::id).as("delivery %d", delivery).containsExactly("poison-1");
            c.close(); // abandoned without an outcome, as if its process crashed handling it
        }
        transport.producer().send(topic, Message.builder().id("fine-1").key("k").payload("ok").build()).join();
        TransportConsumer c = consumer(topic, "g");
        List<Object> handles = new ArrayList<>();
        List<Message> got = pollUntil(c, 1, handles);
        assertThat(got).extracting(Message::id).as("the poison message is not delivered a fourth time")
                .containsExactly("fine-1");
        c.ack(handles.get(0));
        c.close();

        TransportConsumer dlq = consumer(topic + ".dlq", "inspect");
        Message letter = pollUntil(dlq, 1, new ArrayList<>()).get(0);
        dlq.close();
        assertThat(letter.payloadAsString()).isEqualTo("boom");
        assertThat(letter.key()).isEqualTo("k");
        assertThat(letter.header(DeadLetters.REASON)).isEqualTo(RedisConsumer.REASON_REDELIVERED);
        assertThat(letter.header(DeadLetters.ATTEMPTS)).isEqualTo("3");
        assertThat(letter.header(DeadLetters.ORIGINAL_ID)).isEqualTo("poison-1");
        assertThat(letter.header(DeadLetters.ORIGINAL_TOPIC)).isEqualTo(topic);
        assertThat(letter.header(DeadLetters.GROUP)).isEqualTo("g");
        assertThat(letter.header(DeadLetters.ERROR_MESSAGE)).startsWith("delivered 3 times");
    }
}
