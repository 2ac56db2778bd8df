package io.sluice.kafka;

import io.sluice.DeadLetters;
import io.sluice.Message;
import io.sluice.Receipt;
import io.sluice.RetryLaterException;
import io.sluice.Sluice;
import io.sluice.brokers.kafka.KafkaBroker;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.RetryPolicy;
import io.sluice.config.SluiceConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** Long retries through delay-tier topics: attempts carried across hops, headers intact, the ordering trade-off. */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class KafkaDelayTiersTest {
    private static final Duration WAIT = Duration.ofSeconds(60);

    private KafkaTransport transport;
    private Sluice sluice;
    private String topic;

    @BeforeEach
    void start() {
        SendingThreads.TIER_SENDERS.clear();
        transport = new KafkaTransport(KafkaSettings.of(Map.of("bootstrapServers",
                KafkaBroker.shared().bootstrapServers(), "delayTiers", List.of("1s", "2s"),
                "producerProperties", Map.of("interceptor.classes", SendingThreads.class.getName()))));
        sluice = Sluice.create(transport, SluiceConfig.of("kafka"));
        topic = "tiers-" + Long.toHexString(System.nanoTime());
    }

    @AfterEach
    void stop() {
        sluice.close();
    }

    /** Retry delays of at least 500 ms go through the tiers; the handlers ask for exact delays. */
    private static ConsumerOptions options(int maxAttempts) {
        return ConsumerOptions.builder().commitInterval(Duration.ofMillis(50))
                .retry(RetryPolicy.builder().maxAttempts(maxAttempts).nativeDelayThreshold(Duration.ofMillis(500))
                        .build())
                .build();
    }

    @Test
    void shouldRetryThroughDelayTiersWithHeadersIntactAndLetLaterMessagesOfTheKeyPass() throws Exception {
        assertThat(transport.capabilities().nativeDelay()).isTrue();
        Map<String, AtomicInteger> attempts = new ConcurrentHashMap<>();
        List<String> handled = new CopyOnWriteArrayList<>();
        List<Message> seen = new CopyOnWriteArrayList<>();
        String group = topic + "-g";
        sluice.subscribe(topic, group, m -> {
            seen.add(m);
            int attempt = attempts.computeIfAbsent(m.payloadAsString(), k -> new AtomicInteger()).incrementAndGet();
            if (m.payloadAsString().equals("first") && attempt < 3) {
                throw new RetryLaterException(Duration.ofSeconds(attempt), "not yet: attempt " + attempt);
            }
            handled.add(m.payloadAsString());
        }, options(5));
        Message first = Message.builder().key("k").payload("first").header("trace", "t-1").header("zeta", "z")
                .build();
        Receipt sent = sluice.publisher().publish(topic, first).get(30, TimeUnit.SECONDS);
        Receipt second = sluice.publisher().publish(topic, Message.of("k", "second")).get(30, TimeUnit.SECONDS);

        await().atMost(WAIT).until(() -> handled.contains("first"));
        assertThat(handled).as("the later message of the key was not held back by the handed-off one")
                .containsExactly("second", "first");
        assertThat(attempts.get("first").get()).isEqualTo(3);
        for (Message m : seen) {
            if (m.payloadAsString().equals("first")) {
                assertThat(m.id()).isEqualTo(sent.messageId());
                assertThat(m.key()).isEqualTo("k");
                assertThat(m.headers().toMap()).as("headers on every delivery")
                        .containsExactly(Map.entry("trace", "t-1"), Map.entry("zeta", "z"));
            }
        }
        await().atMost(WAIT).until(() -> transport.committedOffset(topic, group, second.partition()).orElse(-1)
                == second.offset() + 1);

        // The first send to a tier waits for its metadata and leaders (on the producer's topic-opening thread); a
        // full producer buffer blocks a send (on the hand-off thread): neither may hold up the subscription's owner
        // thread (which may be inside a rebalance callback).
        assertThat(SendingThreads.TIER_SENDERS).as("threads that sent the hand-offs").hasSize(2)
                .allSatisfy(name -> assertThat(name).matches("sluice-kafka-(handoff|open-topic)-.*"));

        // On the wire: one record per hop, in the 1 s tier and then the 2 s tier, each with the same header count.
        List<ConsumerRecord<byte[], byte[]>> hops = new ArrayList<>();
        hops.addAll(readAll(topic + ".retry.1s"));
        hops.addAll(readAll(topic + ".retry.2s"));
        assertThat(hops).hasSize(2);
        for (int i = 0; i < hops.size(); i++) {
            ConsumerRecord<byte[], byte[]> r = hops.get(i);
            List<String> names = new ArrayList<>();
            for (Header h : r.headers()) {
                names.add(h.key());
            }
            assertThat(names).as("headers of hop %d", i + 1).containsExactly(KafkaHeaders.ID,
                    KafkaHeaders.DELAY_ATTEMPTS, KafkaHeaders.DELAY_DUE, "trace", "zeta");
            assertThat(new String(r.headers().lastHeader(KafkaHeaders.DELAY_ATTEMPTS).value(),
                    StandardCharsets.US_ASCII)).isEqualTo(Integer.toString(i + 1));
            assertThat(r.timestamp()).as("original timestamp kept").isEqualTo(seen.get(0).timestampMillis());
        }
    }

    @Test
    void shouldCountAttemptsAcrossHopsAndDeadLetterAfterTheLast() throws Exception {
        List<Message> letters = new CopyOnWriteArrayList<>();
        sluice.subscribe(DeadLetters.defaultTopic(topic), topic + "-dlq", letters::add,
                ConsumerOptions.builder().build());
        AtomicInteger attempts = new AtomicInteger();
        sluice.subscribe(topic, topic + "-g", m -> {
            attempts.incrementAndGet();
            throw new RetryLaterException(Duration.ofSeconds(1), "always fails");
        }, options(3));
        Receipt poison = sluice.publisher().publish(topic, Message.builder().key("p").payload("poison")
                .header("trace", "t-9").build()).get(30, TimeUnit.SECONDS);

        await().atMost(WAIT).until(() -> letters.size() == 1);
        Message letter = letters.get(0);
        assertThat(letter.header(DeadLetters.ATTEMPTS)).isEqualTo("3");
        assertThat(letter.header(DeadLetters.ORIGINAL_ID)).isEqualTo(poison.messageId());
        assertThat(letter.header("trace")).isEqualTo("t-9");
        assertThat(letter.payloadAsString()).isEqualTo("poison");
        assertThat(attempts.get()).isEqualTo(3);
    }

    private List<ConsumerRecord<byte[], byte[]>> readAll(String tierTopic) {
        Map<String, Object> props = Map.of(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG,
                KafkaBroker.shared().bootstrapServers(), ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG,
                ByteArrayDeserializer.class, ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG,
                ByteArrayDeserializer.class);
        List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(props)) {
            List<TopicPartition> partitions = c.partitionsFor(tierTopic).stream()
                    .map(p -> new TopicPartition(tierTopic, p.partition())).toList();
            c.assign(partitions);
            c.seekToBeginning(partitions);
            Map<TopicPartition, Long> end = c.endOffsets(partitions);
            long total = end.values().stream().mapToLong(Long::longValue).sum();
            await().atMost(WAIT).until(() -> {
                c.poll(Duration.ofMillis(100)).forEach(out::add);
                return out.size() >= total;
            });
        }
        return out;
    }
}
