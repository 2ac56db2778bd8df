package io.sluice.kafka;

import io.sluice.Message;
import io.sluice.Receipt;
import io.sluice.Sluice;
import io.sluice.brokers.kafka.KafkaBroker;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.PublisherOptions;
import io.sluice.config.SluiceConfig;
import io.sluice.config.StartPosition;
import io.sluice.spi.ConsumerSpec;
import io.sluice.spi.PartitionListener;
import io.sluice.spi.TransportConsumer;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * What the transport does when the broker goes away at the worst moment: during a rebalance's commit, between two
 * commits, inside a transaction's commit. One broker of its own, stopped and started again by the tests.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class KafkaBrokerOutageTest {
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static KafkaBroker broker;

    @BeforeAll
    static void startBroker() {
        broker = KafkaBroker.start();
    }

    @AfterAll
    static void stopBroker() {
        if (broker != null) {
            broker.close();
        }
    }

    @AfterEach
    void brokerBack() {
        broker.resume();
    }

    private static String newTopic(String prefix, int partitions) throws Exception {
        String topic = prefix + "-" + Long.toHexString(System.nanoTime());
        try (KafkaTransport admin = new KafkaTransport(KafkaSettings.of(broker.bootstrapServers()))) {
            admin.admin().createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all()
                    .get(60, TimeUnit.SECONDS);
        }
        return topic;
    }

    private static Map<String, Object> rawProps() {
        Map<String, Object> p = new HashMap<>();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers());
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
        return p;
    }

    /** Writes {@code perPartition} records to each partition, valued {@code p<partition>-<index>}, keyed by partition. */
    private static void fill(String topic, int partitions, int perPartition) throws Exception {
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(rawProps())) {
            for (int p = 0; p < partitions; p++) {
                for (int i = 0; i < perPartition; i++) {
                    String value = "p" + p + "-" + i;
                    producer.send(new ProducerRecord<>(topic, p, ("p" + p).getBytes(StandardCharsets.UTF_8),
                            value.getBytes(StandardCharsets.UTF_8)));
                }
            }
            producer.flush();
        }
    }

    private static int index(Message m) {
        String v = m.payloadAsString();
        return Integer.parseInt(v.substring(v.indexOf('-') + 1));
    }

    /** A publisher whose publishes may wait a minute for the broker, with Kafka's own waits kept short. */
    private static Sluice publisherWaitingAMinute() {
        KafkaSettings settings = KafkaSettings.of(Map.of("bootstrapServers", broker.bootstrapServers(),
                "producerProperties", Map.of("max.block.ms", "2000")));
        return Sluice.create(new KafkaTransport(settings), SluiceConfig.of("kafka").withPublisher(
                PublisherOptions.builder().publishTimeout(Duration.ofMinutes(1)).build()));
    }

    private static List<Long> offsetsOf(List<CompletableFuture<Receipt>> published) throws Exception {
        List<Long> offsets = new ArrayList<>();
        for (CompletableFuture<Receipt> f : published) {
            offsets.add(f.get(WAIT.toSeconds(), TimeUnit.SECONDS).offset());
        }
        return offsets;
    }

    private static List<Long> range(long from, long to) {
        List<Long> r = new ArrayList<>();
        for (long o = from; o < to; o++) {
            r.add(o);
        }
        return r;
    }

    @Test
    void shouldCompletePublishesToAKnownTopicWhenTheBrokerComesBackWithinThePublishTimeout() throws Exception {
        String topic = newTopic("outage-publish", 1);
        try (Sluice sluice = publisherWaitingAMinute()) {
            sluice.publisher().publish(topic, Message.of("k", "before")).get(WAIT.toSeconds(), TimeUnit.SECONDS);
            broker.stop();
            List<CompletableFuture<Receipt>> published = new ArrayList<>();
            for (int i = 0; i < 50; i++) {
                published.add(sluice.publisher().publish(topic, Message.of("k", "during-" + i)));
            }
            broker.resume();
            assertThat(offsetsOf(published)).as("offsets of the publishes made while the broker was down")
                    .isEqualTo(range(1, 51));
        }
    }

    @Test
    void shouldCompletePublishesToANewTopicWhenTheBrokerComesBackWithinThePublishTimeout() throws Exception {
        String topic = newTopic("outage-first-publish", 1);
        try (Sluice sluice = publisherWaitingAMinute()) {
            broker.stop();
            // The topic's metadata is not known yet: the publishes wait for it off this thread, and keep waiting
            // (Kafka gives up after max.block.ms, 2 s; the transport asks again) until the broker is back.
            List<CompletableFuture<Receipt>> published = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                published.add(sluice.publisher().publish(topic, Message.of("k", "during-" + i)));
            }
            assertThat(published).as("publishes settled while the broker was down").noneMatch(CompletableFuture::isDone);
            broker.resume();
            assertThat(offsetsOf(published)).as("offsets of the publishes made while the broker was down")
                    .isEqualTo(range(0, 20));
        }
    }

    @Test
    void shouldGiveUpRevokedPartitionsEvenWhenTheirCommitFails() throws Exception {
        String topic = newTopic("outage-revoke", 2);
        fill(topic, 2, 60);
        String group = topic + "-g";
        // Sync commits give up after 2 s (default.api.timeout.ms), so a commit against a stopped broker fails fast.
        KafkaSettings settings = KafkaSettings.of(Map.of("bootstrapServers", broker.bootstrapServers(),
                "consumerProperties", Map.of("default.api.timeout.ms", "2000", "heartbeat.interval.ms", "300")));
        RecordingTransport first = new RecordingTransport(new KafkaTransport(settings));
        AtomicBoolean stoppedInRevoke = new AtomicBoolean();
        AtomicBoolean resumed = new AtomicBoolean();
        first.onRevoke = () -> {
            if (stoppedInRevoke.compareAndSet(false, true)) {
                broker.stop(); // the engine's commit of the revoked partition now fails
            }
        };
        first.beforePoll = () -> {
            // The poll after the revoke: the callback has returned (or thrown); bring the broker back.
            if (stoppedInRevoke.get() && resumed.compareAndSet(false, true)) {
                broker.resume();
            }
        };
        Set<String> handled = ConcurrentHashMap.newKeySet();
        CountDownLatch release = new CountDownLatch(1);
        AtomicInteger blocked = new AtomicInteger();
        ConsumerOptions options = ConsumerOptions.builder().maxInFlight(20).commitInterval(Duration.ofHours(1))
                .shutdownTimeout(Duration.ofSeconds(1)).build();
        try (Sluice a = Sluice.create(first, SluiceConfig.of("kafka"));
             Sluice b = Sluice.create(new KafkaTransport(settings), SluiceConfig.of("kafka"))) {
            // One key per partition: records 0-4 of each finish at once, record 5 blocks its key, the records
            // handed after it wait behind it and fill the 20 in-flight slots, and the rest of each fetch waits in
            // the member's backlog.
            a.subscribe(topic, group, m -> {
                if (index(m) >= 5) {
                    blocked.incrementAndGet();
                    release.await();
                }
                handled.add(m.payloadAsString());
            }, options);
            await().atMost(WAIT).until(() -> blocked.get() == 2);

            b.subscribe(topic, group, m -> handled.add(m.payloadAsString()), options);
            await().atMost(WAIT).until(resumed::get);
            release.countDown();
            await().atMost(WAIT).until(() -> handled.size() == 120);
        }
        assertThat(first.revocations.get()).as("revocations of the first member").isPositive();
        assertThat(first.handedWithoutOwnership)
                .as("records of a partition handed over after the member gave it up").isEmpty();
    }

    /** Records partition events of a bare transport consumer. */
    private static final class Events implements PartitionListener {
        final List<Integer> assigned = new ArrayList<>();

        @Override
        public void assigned(Collection<Integer> partitions) {
            assigned.addAll(partitions);
        }

        @Override
        public void revoked(Collection<Integer> partitions) {
        }

        @Override
        public void lost(Collection<Integer> partitions) {
        }
    }

    @Test
    void shouldNeverLetARetriedCommitOvertakeANewerOne() throws Exception {
        String topic = newTopic("outage-commit", 2);
        fill(topic, 2, 300);
        String group = topic + "-g";
        try (KafkaTransport transport = new KafkaTransport(KafkaSettings.of(broker.bootstrapServers()))) {
            KafkaTransportConsumer consumer = (KafkaTransportConsumer) transport.consumer(new ConsumerSpec(topic,
                    group, "bare", StartPosition.EARLIEST), new Events());
            try {
                List<Long> offsets = new ArrayList<>();
                await().atMost(WAIT).until(() -> {
                    consumer.poll(1000, Long.MAX_VALUE, true, TimeUnit.MILLISECONDS.toNanos(100),
                            (m, p, offset, size, attempt, h) -> offsets.add(offset));
                    return offsets.size() == 600;
                });
                broker.stop();
                consumer.commit(Map.of(0, 100L), false);
                // Poll until the commit of 100 has failed and waits to be sent again.
                await().atMost(WAIT).until(() -> {
                    consumer.poll(0, 0, false, TimeUnit.MILLISECONDS.toNanos(50), (m, p, o, s, a, h) -> { });
                    return consumer.commitsAwaitingRetry() > 0;
                });
                broker.resume();
                // Wait for the group coordinator without polling (a poll would send the retry): a synchronous
                // commit of the other partition returns once the coordinator takes commits again.
                consumer.commit(Map.of(1, 5L), true);
                consumer.commit(Map.of(0, 200L), false); // newer: the retry of 100 must not go after it
                for (int i = 0; i < 20; i++) {
                    consumer.poll(0, 0, false, TimeUnit.MILLISECONDS.toNanos(50), (m, p, o, s, a, h) -> { });
                }
                await().atMost(WAIT).until(() -> {
                    consumer.poll(0, 0, false, TimeUnit.MILLISECONDS.toNanos(50), (m, p, o, s, a, h) -> { });
                    return consumer.commitsAwaitingRetry() == 0;
                });
                assertThat(transport.committedOffset(topic, group, 0)).as("committed offset after every retry")
                        .hasValue(200);
                assertThat(transport.committedOffset(topic, group, 1)).hasValue(5);
            } finally {
                consumer.close();
            }
        }
    }

    @Test
    void shouldCommitOnCloseWhatAFailedAsyncCommitLeftUnconfirmed() throws Exception {
        String topic = newTopic("outage-final-commit", 2);
        fill(topic, 2, 50);
        String group = topic + "-g";
        try (KafkaTransport transport = new KafkaTransport(KafkaSettings.of(broker.bootstrapServers()))) {
            KafkaTransportConsumer consumer = (KafkaTransportConsumer) transport.consumer(new ConsumerSpec(topic,
                    group, "bare", StartPosition.EARLIEST), new Events());
            try {
                List<Long> offsets = new ArrayList<>();
                await().atMost(WAIT).until(() -> {
                    consumer.poll(1000, Long.MAX_VALUE, true, TimeUnit.MILLISECONDS.toNanos(100),
                            (m, p, offset, size, attempt, h) -> offsets.add(offset));
                    return offsets.size() == 100;
                });
                consumer.commit(Map.of(0, 10L, 1, 20L), true);
                broker.stop();
                // The engine counts an async commit as sent; this one fails (the coordinator is gone).
                consumer.commit(Map.of(0, 30L, 1, 40L), false);
                await().atMost(WAIT).until(() -> {
                    consumer.poll(0, 0, false, TimeUnit.MILLISECONDS.toNanos(50), (m, p, o, s, a, h) -> { });
                    return consumer.commitsAwaitingRetry() == 2;
                });
                broker.resume();
            } finally {
                consumer.close(); // no poll in between: only the final synchronous commit can send 30 and 40
            }
            assertThat(transport.committedOffset(topic, group, 0)).as("partition 0 after close").hasValue(30);
            assertThat(transport.committedOffset(topic, group, 1)).as("partition 1 after close").hasValue(40);
        }
    }

    @Test
    void shouldRetryATimedOutTransactionCommitInsteadOfAborting() throws Exception {
        String input = newTopic("outage-eos-in", 1);
        String output = newTopic("outage-eos-out", 1);
        fill(input, 1, 3);
        String group = input + "-g";
        KafkaSettings settings = KafkaSettings.of(Map.of("bootstrapServers", broker.bootstrapServers(),
                "producerProperties", Map.of("max.block.ms", "2000")));
        AtomicBoolean stopped = new AtomicBoolean();
        try (ExactlyOnceProcessor processor = ExactlyOnceProcessor.builder(settings)
                .input(input).group(group).transactionalId(group + "-1")
                .transform((in, out) -> out.send(output, Message.of(in.key(), in.payloadAsString().toUpperCase())))
                .backoff(Duration.ofMillis(50), Duration.ofMillis(500))
                .beforeCommit(() -> {
                    if (stopped.compareAndSet(false, true)) {
                        broker.stop(); // the coordinator is gone when the commit is sent
                    }
                })
                .start()) {
            await().atMost(WAIT).until(() -> processor.commitRetries() > 0 || !processor.isRunning());
            assertThat(processor.failure()).as("why the processor stopped").isNull();
            broker.resume();
            await().atMost(WAIT).until(() -> processor.processedRecords() >= 3 || !processor.isRunning());
            assertThat(processor.failure()).as("why the processor stopped").isNull();
            assertThat(processor.abortedTransactions()).isZero();
        }
        List<String> visible = new ArrayList<>();
        Map<String, Object> props = rawProps();
        props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        try (KafkaConsumer<byte[], byte[]> reader = new KafkaConsumer<>(props)) {
            TopicPartition tp = new TopicPartition(output, 0);
            reader.assign(List.of(tp));
            reader.seekToBeginning(List.of(tp));
            await().atMost(WAIT).until(() -> {
                for (ConsumerRecord<byte[], byte[]> r : reader.poll(Duration.ofMillis(100))) {
                    visible.add(new String(r.value(), StandardCharsets.UTF_8));
                }
                return visible.size() >= 3;
            });
        }
        assertThat(visible).as("read_committed output").containsExactly("P0-0", "P0-1", "P0-2");
        try (KafkaTransport transport = new KafkaTransport(KafkaSettings.of(broker.bootstrapServers()))) {
            assertThat(transport.committedOffset(input, group, 0)).hasValue(3);
        }
    }
}
