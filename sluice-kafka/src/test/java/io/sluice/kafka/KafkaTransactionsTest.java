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
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Consume-transform-produce in Kafka transactions, one input record per transaction: before every batch the group's
 * committed input offset equals the output a read_committed reader sees; an open transaction's output is on the log
 * but invisible and not reflected in the offset (checked in a batch that commits and in one that aborts); an aborted
 * one's output stays invisible and its input is done again.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class KafkaTransactionsTest {
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final Duration SETTLE = Duration.ofSeconds(30);
    private static final int INPUTS = 8;
    private static final int ABORTED = 3;
    private static final int OPEN_CHECKED = 5;

    @Test
    void shouldMoveOffsetsOnlyWithVisibleOutputAcrossCommitsAndAnAbort() throws Exception {
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
            Map<Integer, AtomicInteger> attempts = new ConcurrentHashMap<>();
            List<String> broken = new CopyOnWriteArrayList<>();
            AtomicInteger current = new AtomicInteger(-1);
            ExactlyOnceProcessor.Transform upperCase = (in, out) -> {
                int i = Integer.parseInt(in.payloadAsString().substring(1));
                current.set(i);
                int attempt = attempts.computeIfAbsent(i, k -> new AtomicInteger()).incrementAndGet();
                // Batches 0..i-1 committed (batch i, on its retry, aborted once): offset and output agree at i.
                expectOffsetEqualsVisibleOutput(broken, "before batch " + i + " attempt " + attempt, bootstrap,
                        transport, input, group, outputTopic, i);
                long end = endOffset(bootstrap, outputTopic, "read_uncommitted");
                out.send(outputTopic, Message.of(in.key(), in.payloadAsString().toUpperCase()));
                if (i == OPEN_CHECKED || (i == ABORTED && attempt == 1)) {
                    // This transaction's record reaches the log, yet neither the reader nor the offset sees it.
                    await().atMost(SETTLE).until(() -> endOffset(bootstrap, outputTopic, "read_uncommitted") > end);
                    expectOffsetEqualsVisibleOutput(broken, "inside open batch " + i, bootstrap, transport, input,
                            group, outputTopic, i);
                }
                if (i == ABORTED && attempt == 1) {
                    throw new IllegalStateException("downstream refused m" + i);
                }
            };
            try (ExactlyOnceProcessor processor = ExactlyOnceProcessor.builder(KafkaSettings.of(bootstrap))
                    .input(input).group(group).transactionalId(group + "-1").transform(upperCase).maxBatch(1)
                    // The offsets have joined the transaction, which is not committed yet: nothing moved.
                    .beforeCommit(() -> expectOffsetEqualsVisibleOutput(broken, "before committing batch "
                            + current.get(), bootstrap, transport, input, group, outputTopic, current.get()))
                    .backoff(Duration.ofMillis(50), Duration.ofMillis(200)).start()) {
                await().atMost(WAIT).until(() -> processor.processedRecords() >= INPUTS || !processor.isRunning());
                assertThat(processor.failure()).isNull();
                assertThat(processor.committedTransactions()).as("one transaction per input").isEqualTo(INPUTS);
                assertThat(processor.abortedTransactions()).isEqualTo(1);
            }
            assertThat(broken).as("moments when the committed offset and the visible output disagreed").isEmpty();
            assertThat(attempts.get(ABORTED).get()).isEqualTo(2);
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
            // Each committed transaction: its record and a commit marker; the aborted one: its record and an abort
            // marker (markers are written just after the commit or abort returns).
            await().atMost(WAIT).until(() -> endOffset(bootstrap, outputTopic, "read_uncommitted") == 2L * INPUTS + 2);
            assertThat(transport.committedOffset(input, group, 0)).hasValue(INPUTS);
        }
    }

    @Test
    void shouldStayInTheGroupWhileBackingOffLongerThanMaxPollInterval() throws Exception {
        String bootstrap = KafkaBroker.shared().bootstrapServers();
        String input = "eos-backoff-in-" + Long.toHexString(System.nanoTime());
        String outputTopic = input.replace("eos-backoff-in", "eos-backoff-out");
        String group = input + "-g";
        KafkaTransport transport = new KafkaTransport(KafkaSettings.of(bootstrap));
        transport.admin().createTopics(List.of(new NewTopic(input, 1, (short) 1), new NewTopic(outputTopic, 1,
                (short) 1))).all().get(60, TimeUnit.SECONDS);
        KafkaSettings settings = KafkaSettings.of(Map.of("bootstrapServers", bootstrap, "consumerProperties",
                Map.of("max.poll.interval.ms", "1500", "session.timeout.ms", "6000", "heartbeat.interval.ms", "300")));
        try (Sluice sluice = Sluice.create(transport, SluiceConfig.of("kafka"))) {
            for (int i = 0; i < 2; i++) {
                sluice.publisher().publish(input, Message.of("k" + i, "m" + i)).get(30, TimeUnit.SECONDS);
            }
            AtomicInteger attempts = new AtomicInteger();
            // The first batch fails once; its retry waits 2 to 4 s (backoff with jitter), over max.poll.interval.ms.
            try (ExactlyOnceProcessor processor = ExactlyOnceProcessor.builder(settings)
                    .input(input).group(group).transactionalId(group + "-1").maxBatch(1)
                    .transform((in, out) -> {
                        if (in.payloadAsString().equals("m0") && attempts.incrementAndGet() == 1) {
                            throw new IllegalStateException("downstream not ready");
                        }
                        out.send(outputTopic, Message.of(in.key(), in.payloadAsString().toUpperCase()));
                    })
                    .backoff(Duration.ofSeconds(4), Duration.ofSeconds(4)).start()) {
                await().atMost(WAIT).until(() -> processor.processedRecords() >= 2 || !processor.isRunning());
                assertThat(processor.failure()).isNull();
                assertThat(processor.abortedTransactions()).isEqualTo(1);
                assertThat(processor.partitionsLost()).as("partitions lost for polling too late").isZero();
            }
            assertThat(readCommitted(bootstrap, outputTopic)).extracting(r -> new String(r.value(),
                    StandardCharsets.UTF_8)).containsExactly("M0", "M1");
        }
    }

    /**
     * Waits until the committed input offset and the read_committed output both reach {@code expected} (transaction
     * markers are written just after a commit returns), and records a disagreement if they do not.
     */
    private static void expectOffsetEqualsVisibleOutput(List<String> broken, String when, String bootstrap,
                                                        KafkaTransport transport, String input, String group,
                                                        String outputTopic, int expected) {
        long[] seen = new long[2];
        try {
            await().atMost(SETTLE).until(() -> {
                seen[0] = transport.committedOffset(input, group, 0).orElse(0);
                seen[1] = readCommitted(bootstrap, outputTopic).size();
                return seen[0] == expected && seen[1] == expected;
            });
        } catch (ConditionTimeoutException e) {
            broken.add(when + ": committed input offset " + seen[0] + ", visible output " + seen[1] + ", expected "
                    + expected);
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
