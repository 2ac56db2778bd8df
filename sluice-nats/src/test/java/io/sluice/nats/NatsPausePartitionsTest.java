package io.sluice.nats;

import io.sluice.Message;
import io.sluice.config.StartPosition;
import io.sluice.spi.ConsumerSpec;
import io.sluice.spi.PartitionListener;
import io.sluice.spi.TransportConsumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link TransportConsumer#pausePartitions}: a paused partition hands the engine nothing (also not what a pull
 * already outstanding brings in), the others keep flowing, and after resuming it continues in order. Driven through
 * the SPI on the test thread, which is the poll thread.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class NatsPausePartitionsTest {
    private static final int PARTITIONS = 3;
    private static final int MAX_POLLS = 2_000;

    /** What one consumer was handed, in order, with its ack handles. */
    private static final class Recorder implements PartitionListener {
        final Set<Integer> assigned = new TreeSet<>();
        final List<Message> messages = new ArrayList<>();
        final List<Integer> partitions = new ArrayList<>();
        final List<Object> handles = new ArrayList<>();

        @Override
        public void assigned(Collection<Integer> p) {
            assigned.addAll(p);
        }

        @Override
        public void revoked(Collection<Integer> p) {
            assigned.removeAll(p);
        }

        @Override
        public void lost(Collection<Integer> p) {
            assigned.removeAll(p);
        }

        void pollUntil(TransportConsumer consumer, BooleanSupplier done) throws InterruptedException {
            for (int i = 0; i < MAX_POLLS && !done.getAsBoolean(); i++) {
                consumer.poll(64, Long.MAX_VALUE, false, TimeUnit.MILLISECONDS.toNanos(50),
                        (m, partition, offset, size, attempt, handle) -> {
                            messages.add(m);
                            partitions.add(partition);
                            handles.add(handle);
                        });
            }
            assertThat(done.getAsBoolean()).as("reached within %d polls", MAX_POLLS).isTrue();
        }

        long count(int partition) {
            return partitions.stream().filter(p -> p == partition).count();
        }

        List<String> payloads(int partition) {
            List<String> out = new ArrayList<>();
            for (int i = 0; i < messages.size(); i++) {
                if (partitions.get(i) == partition) {
                    out.add(messages.get(i).payloadAsString());
                }
            }
            return out;
        }
    }

    @Test
    void shouldStopDeliveringAPausedJetStreamPartitionWhileOthersFlowAndResumeInOrder() throws Exception {
        String url = NatsTestServer.get().url();
        String topic = "pause-" + Long.toHexString(System.nanoTime());
        String[] keys = NatsTestServer.keysPerPartition(PARTITIONS);
        try (NatsTransport t = new NatsTransport(NatsTestServer.settings(url).build())) {
            t.producer().send(topic, Message.of(keys[1], "creates the stream").withDefaults(1)).join();
            Recorder r = new Recorder();
            TransportConsumer consumer = t.consumer(new ConsumerSpec(topic, "g", "m", StartPosition.LATEST), r);
            try {
                r.pollUntil(consumer, () -> r.assigned.size() == PARTITIONS);
                // Polling with room: a pull is outstanding on every partition when partition 0 is paused.
                consumer.poll(64, Long.MAX_VALUE, false, TimeUnit.MILLISECONDS.toNanos(100), (m, p, o, s, a, h) -> {
                    throw new AssertionError("nothing published yet, got " + m);
                });
                consumer.pausePartitions(List.of(0));
                for (int i = 0; i < 10; i++) {
                    t.producer().send(topic, Message.of(keys[0], "p0-" + i).withDefaults(1)).join();
                }
                for (int i = 0; i < 10; i++) {
                    t.producer().send(topic, Message.of(keys[1], "p1-" + i).withDefaults(1)).join();
                }
                // Published after partition 0's: once these arrived, partition 0's had every chance to.
                for (int i = 0; i < 10; i++) {
                    t.producer().send(topic, Message.of(keys[2], "p2-" + i).withDefaults(1)).join();
                }
                r.pollUntil(consumer, () -> r.count(1) == 10 && r.count(2) == 10);
                for (int i = 0; i < 5; i++) { // a few more polls: still nothing of the paused partition
                    consumer.poll(64, Long.MAX_VALUE, false, TimeUnit.MILLISECONDS.toNanos(20),
                            (m, p, o, s, a, h) -> {
                                r.messages.add(m);
                                r.partitions.add(p);
                                r.handles.add(h);
                            });
                }
                assertThat(r.count(0)).as("messages of the paused partition handed out").isZero();

                consumer.resumePartitions(List.of(0));
                r.pollUntil(consumer, () -> r.count(0) == 10);
                List<String> expected = new ArrayList<>();
                for (int i = 0; i < 10; i++) {
                    expected.add("p0-" + i);
                }
                assertThat(r.payloads(0)).as("the paused partition resumes in order").isEqualTo(expected);
                assertThat(r.messages).hasSize(30);
                for (Object h : r.handles) {
                    consumer.ack(h);
                }
            } finally {
                consumer.close();
            }
            for (int p = 0; p < PARTITIONS; p++) {
                assertThat(t.management().getConsumerInfo(Names.stream(topic), Names.durable("g", p))
                        .getNumAckPending()).as("unacknowledged on partition %d", p).isZero();
            }
        }
    }

    /** Core mode has one partition, 0: pausing it holds messages in the subscriber's buffer until resumed. */
    @Test
    void shouldHoldCoreMessagesInTheBufferWhilePartitionZeroIsPaused() throws Exception {
        String url = NatsTestServer.get().url();
        String subject = "pause-core-" + Long.toHexString(System.nanoTime());
        try (NatsTransport t = new NatsTransport(NatsTestServer.settings(url).mode(NatsSettings.Mode.CORE).build())) {
            Recorder r = new Recorder();
            TransportConsumer consumer = t.consumer(new ConsumerSpec(subject, "g", "m", StartPosition.LATEST), r);
            try {
                r.pollUntil(consumer, () -> r.assigned.equals(Set.of(0)));
                consumer.pausePartitions(List.of(0));
                for (int i = 0; i < 10; i++) {
                    t.producer().send(subject, Message.of("k", "m" + i).withDefaults(1)).join();
                }
                t.connection().flush(Duration.ofSeconds(5));
                for (int i = 0; i < 5; i++) {
                    consumer.poll(64, Long.MAX_VALUE, false, TimeUnit.MILLISECONDS.toNanos(20),
                            (m, p, o, s, a, h) -> r.messages.add(m));
                }
                assertThat(r.messages).as("handed out while paused").isEmpty();
                consumer.resumePartitions(List.of(0));
                r.pollUntil(consumer, () -> r.partitions.size() == 10);
                List<String> got = new ArrayList<>();
                r.messages.forEach(m -> got.add(m.payloadAsString()));
                assertThat(got).containsExactly("m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9");
            } finally {
                consumer.close();
            }
        }
    }

}
