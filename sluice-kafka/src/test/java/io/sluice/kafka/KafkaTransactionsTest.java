package io.sluice.kafka;

import io.sluice.Message;
import io.sluice.Sluice;
import io.sluice.brokers.kafka.KafkaBroker;
import io.sluice.config.SluiceConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** Consume-transform-produce in Kafka transactions: aborted output is invisible, offsets move only with output. */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class KafkaTransactionsTest {
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final int INPUTS = 10;

    @Test
    void shouldHideAbortedOutputAndAdvanceOffsetsOnlyWithCommittedOutput() throws Exception {
        String bootstrap = KafkaBroker.shared().bootstrapServers();
        String input = "eos-in-" + Long.toHexString(System.nanoTime());
        String outputTopic = input.replace("eos-in", "eos-out");
        String group = input + "-g";
        KafkaTransport transport = new KafkaTransport(KafkaSettings.of(bootstrap));
        transport.admin().createTopics(List.of(new NewTopic(input, 1, (short) 1), new NewTopic(outputTopic, 1,
                (short) 1))).all().get(60, TimeUnit.SECONDS);
        try (Sluice sluice = Sluice.create(transport, SluiceConfig.of("kafka"))) {
            for (int i = 0; i < INPUTS; i++) {
                sluice.publisher().publish(input, Message.of("k" + i, "m" + i)).get(30, TimeUnit.SECONDS);
            }
            CountDownLatch insideFailingTransaction = new CountDownLatch(1);
            CountDownLatch letItFail = new CountDownLatch(1);
            AtomicInteger attemptsOfM5 = new AtomicInteger();
            ExactlyOnceProcessor.Transform upperCase = (in, out) -> {
                out.send(outputTopic, Message.of(in.key(), in.payloadAsString().toUpperCase()));
                if (in.payloadAsString().equals("m5") && attemptsOfM5.incrementAndGet() == 1) {
                    insideFailingTransaction.countDown();
                    letItFail.await();
                    throw new IllegalStateException("downstream refused m5");
                }
            };
            try (ExactlyOnceProcessor processor = ExactlyOnceProcessor.builder(KafkaSettings.of(bootstrap))
                    .input(input).group(group).transactionalId(group + "-1").transform(upperCase)
                    .backoff(Duration.ofMillis(50), Duration.ofMillis(200)).start()) {
                assertThat(insideFailingTransaction.await(60, TimeUnit.SECONDS)).isTrue();
                // The open transaction's output is on the log, but neither visible nor reflected in the offsets.
                await().atMost(WAIT).until(() -> endOffset(bootstrap, outputTopic, "read_uncommitted") > 0);
                long committedInputs = transport.committedOffset(input, group, 0).orElse(0);
                assertThat(committedInputs).as("committed input offset while m5's transaction is open")
                        .isLessThanOrEqualTo(5);
                assertThat(readCommitted(bootstrap, outputTopic)).as("visible output equals committed input")
                        .hasSize((int) committedInputs);

                letItFail.countDown();
                await().atMost(WAIT).until(() -> processor.processedRecords() >= INPUTS);
                assertThat(processor.abortedTransactions()).isEqualTo(1);
                assertThat(processor.failure()).isNull();
            }
            List<String> visible = new ArrayList<>();
            for (ConsumerRecord<byte[], byte[]> r : readCommitted(bootstrap, outputTopic)) {
                visible.add(new String(r.value(), StandardCharsets.UTF_8));
            }
            List<String> expected = new ArrayList<>();
            for (int i = 0; i < INPUTS; i++) {
                expected.add("M" + i);
            }
            assertThat(visible).as("read_committed output: each input exactly once, in order")
                    .containsExactlyElementsOf(expected);
            assertThat(endOffset(bootstrap, outputTopic, "read_uncommitted"))
                    .as("the aborted attempt's records and markers are on the log").isGreaterThan(INPUTS + 1);
            assertThat(transport.committedOffset(input, group, 0)).hasValue(INPUTS);
            assertThat(attemptsOfM5.get()).isEqualTo(2);
        }
    }

    private static Map<String, Object> consumerProps(String bootstrap, String isolation) {
        Map<String, Object> p = new HashMap<>();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation);
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
        return p;
    }

    /** The end offset as a reader with {@code isolation} sees it (read_committed: the last stable offset). */
    private static long endOffset(String bootstrap, String topic, String isolation) {
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(consumerProps(bootstrap, isolation))) {
            TopicPartition tp = new TopicPartition(topic, 0);
            return c.endOffsets(List.of(tp)).get(tp);
        }
    }

    /** Every record a read_committed reader sees, up to the last stable offset. */
    private static List<ConsumerRecord<byte[], byte[]>> readCommitted(String bootstrap, String topic) {
        List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(consumerProps(bootstrap, "read_committed"))) {
            TopicPartition tp = new TopicPartition(topic, 0);
            c.assign(List.of(tp));
            c.seekToBeginning(List.of(tp));
            long stable = c.endOffsets(List.of(tp)).get(tp);
            await().atMost(WAIT).until(() -> {
                c.poll(Duration.ofMillis(100)).forEach(out::add);
                return c.position(tp) >= stable;
            });
        }
        return out;
    }
}
