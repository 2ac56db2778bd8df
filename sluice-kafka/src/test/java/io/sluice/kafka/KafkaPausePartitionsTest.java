package io.sluice.kafka;

import io.sluice.brokers.kafka.KafkaBroker;
import io.sluice.config.StartPosition;
import io.sluice.spi.ConsumerSpec;
import io.sluice.spi.PartitionListener;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * {@link KafkaTransportConsumer#pausePartitions}: a paused partition delivers nothing until resumed, whatever else
 * pauses and resumes partitions meanwhile (the engine being full, backlogs), and a revoked one is forgotten. Bare
 * transport consumers on the shared broker, polled from the test thread (their owner).
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class KafkaPausePartitionsTest {
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final long POLL_NANOS = TimeUnit.MILLISECONDS.toNanos(50);
    private static final int PER_PARTITION = 60;

    private String bootstrap;
    private String topic;

    @BeforeEach
    void topic() throws Exception {
        bootstrap = KafkaBroker.shared().bootstrapServers();
        topic = "pause-" + Long.toHexString(System.nanoTime());
        try (KafkaTransport admin = new KafkaTransport(KafkaSettings.of(bootstrap))) {
            admin.admin().createTopics(List.of(new NewTopic(topic, 2, (short) 1))).all().get(60, TimeUnit.SECONDS);
        }
    }

    /** Appends {@code count} records to {@code partition}. */
    private void fill(int partition, int count) {
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(Map.of(
                ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
                ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class,
                ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class))) {
            for (int i = 0; i < count; i++) {
                producer.send(new ProducerRecord<>(topic, partition, null,
                        ("p" + partition + "-" + i).getBytes(StandardCharsets.UTF_8)));
            }
            producer.flush();
        }
    }

    /** One delivery: engine partition and offset. */
    private record Delivery(int partition, long offset) {
    }

    private static final class Events implements PartitionListener {
        final List<Integer> assigned = new CopyOnWriteArrayList<>();
        final List<Integer> revoked = new CopyOnWriteArrayList<>();

        @Override
        public void assigned(Collection<Integer> partitions) {
            assigned.addAll(partitions);
        }

        @Override
        public void revoked(Collection<Integer> partitions) {
            revoked.addAll(partitions);
        }

        @Override
        public void lost(Collection<Integer> partitions) {
        }
    }

    private KafkaTransportConsumer consumer(KafkaTransport transport, String group, String member, Events events) {
        return (KafkaTransportConsumer) transport.consumer(new ConsumerSpec(topic, group, member,
                StartPosition.EARLIEST), events);
    }

    private static void poll(KafkaTransportConsumer c, int maxRecords, List<Delivery> into) {
        c.poll(maxRecords, Long.MAX_VALUE, true, POLL_NANOS, (m, p, offset, size, attempt, h) -> into.add(
                new Delivery(p, offset)));
    }

    private static List<Long> offsetsOf(List<Delivery> deliveries, int partition) {
        return deliveries.stream().filter(d -> d.partition() == partition).map(Delivery::offset).toList();
    }

    private static List<Long> range(long from, long to) {
        List<Long> r = new ArrayList<>();
        for (long o = from; o < to; o++) {
            r.add(o);
        }
        return r;
    }

    @Test
    void shouldDeliverNothingOfAPausedPartitionUntilResumedWhileTheOthersFlow() {
        fill(1, PER_PARTITION);
        try (KafkaTransport transport = new KafkaTransport(KafkaSettings.of(bootstrap))) {
            Events events = new Events();
            KafkaTransportConsumer c = consumer(transport, topic + "-g", "m1", events);
            try {
                List<Delivery> seen = new ArrayList<>();
                await().atMost(WAIT).until(() -> {
                    poll(c, 4, seen);
                    return events.assigned.size() == 2 && !seen.isEmpty();
                });
                // Partition 0 has no backlog (nothing was written to it yet), so only the engine's pause holds it.
                c.pausePartitions(List.of(0));
                c.pausePartitions(List.of(0)); // idempotent
                assertThat(c.pausedByEngine()).containsExactly(0);
                fill(0, PER_PARTITION);

                // The engine full (everything paused), then room again (everything resumed that nothing else
                // holds), and partition 1's backlog pausing and resuming it: none of it may resume partition 0.
                for (int i = 0; i < 3; i++) {
                    poll(c, 0, seen);
                    assertThat(c.pausedInKafka()).as("paused in Kafka while the engine is full").contains(0, 1);
                }
                await().atMost(WAIT).until(() -> {
                    poll(c, 4, seen);
                    assertThat(c.pausedInKafka()).as("paused in Kafka after a poll with room").contains(0);
                    return offsetsOf(seen, 1).size() == PER_PARTITION;
                });
                for (int i = 0; i < 5; i++) {
                    poll(c, 100, seen);
                }
                assertThat(offsetsOf(seen, 0)).as("records of the paused partition handed over").isEmpty();

                c.resumePartitions(List.of(0));
                c.resumePartitions(List.of(0));
                assertThat(c.pausedByEngine()).isEmpty();
                await().atMost(WAIT).until(() -> {
                    poll(c, 4, seen);
                    return offsetsOf(seen, 0).size() >= PER_PARTITION;
                });
                assertThat(offsetsOf(seen, 0)).as("partition 0, each offset once and in order")
                        .isEqualTo(range(0, PER_PARTITION));
                assertThat(offsetsOf(seen, 1)).as("partition 1, each offset once and in order")
                        .isEqualTo(range(0, PER_PARTITION));
            } finally {
                c.close();
            }
        }
    }

    @Test
    void shouldForgetThePauseOfARevokedPartition() {
        fill(0, PER_PARTITION);
        fill(1, PER_PARTITION);
        String group = topic + "-g";
        try (KafkaTransport transport = new KafkaTransport(KafkaSettings.of(bootstrap))) {
            Events firstEvents = new Events();
            KafkaTransportConsumer first = consumer(transport, group, "m1", firstEvents);
            try {
                List<Delivery> seen = new ArrayList<>();
                await().atMost(WAIT).until(() -> {
                    poll(first, 0, seen);
                    return firstEvents.assigned.size() == 2;
                });
                first.pausePartitions(List.of(0, 1, 7)); // 7 is not held: ignored
                assertThat(first.pausedByEngine()).containsExactlyInAnyOrder(0, 1);

                // A second member takes one partition (cooperative: the first gives up only that one), then leaves,
                // and the first gets it back: assigned again, it starts unpaused.
                Events secondEvents = new Events();
                KafkaTransportConsumer second = consumer(transport, group, "m2", secondEvents);
                List<Delivery> secondSeen = new ArrayList<>();
                try {
                    await().atMost(WAIT).until(() -> {
                        poll(first, 4, seen);
                        poll(second, 0, secondSeen);
                        return firstEvents.revoked.size() == 1 && secondEvents.assigned.size() == 1;
                    });
                } finally {
                    second.close();
                }
                int moved = firstEvents.revoked.get(0);
                assertThat(first.pausedByEngine()).as("pauses after the revocation").containsExactly(1 - moved);
                await().atMost(WAIT).until(() -> {
                    poll(first, 4, seen);
                    return offsetsOf(seen, moved).size() == PER_PARTITION;
                });
                assertThat(offsetsOf(seen, moved)).as("the partition given back, delivered from the start")
                        .isEqualTo(range(0, PER_PARTITION));
                assertThat(offsetsOf(seen, 1 - moved)).as("the partition still paused").isEmpty();
            } finally {
                first.close();
            }
        }
    }
}
