package io.sluice.testkit;

import io.sluice.Message;
import io.sluice.Receipt;
import io.sluice.config.StartPosition;
import io.sluice.spi.ConsumerSpec;
import io.sluice.spi.PartitionListener;
import io.sluice.spi.Transport;
import io.sluice.spi.TransportConsumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The contract of {@code TransportConsumer.pausePartitions}/{@code resumePartitions}, on the SPI directly: a paused
 * partition yields nothing from {@code poll} while the others flow, and after resuming it delivers what it held back,
 * in order; a revoked partition's pause is forgotten, and a partition assigned again starts unpaused.
 *
 * <p>A transport joins by subclassing and implementing {@link #createTransport()} (called once per test; the test
 * closes it). Topics are created on first use with at least 2 partitions. Checks wait for counts of records (each
 * poll waits at most 100 ms), never for time to pass: "nothing from the paused partition" is checked once everything
 * of the other partitions, published before and after it, has arrived.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
public abstract class PausePartitionsContractTest {
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final long POLL_NANOS = TimeUnit.MILLISECONDS.toNanos(100);

    /** A fresh transport for one test. */
    protected abstract Transport createTransport();

    private Transport transport;
    private final List<TransportConsumer> consumers = new ArrayList<>();
    private final List<String> events = new CopyOnWriteArrayList<>();
    private final String topic = "pause-" + System.nanoTime();

    @BeforeEach
    void start() {
        transport = createTransport();
    }

    @AfterEach
    void stop() {
        consumers.forEach(TransportConsumer::close);
        transport.close();
    }

    @Test
    void shouldDeliverNothingFromAPausedPartitionWhileTheOthersFlowAndAllOfItAfterResuming() {
        TransportConsumer c = consumer("m1");
        Map<Integer, List<Long>> sent = publish(40);
        pollUntil(c, new TreeMap<>(), d -> allBut(-1, sent, d));
        int paused = sent.keySet().iterator().next();

        c.pausePartitions(List.of(paused, 9_999)); // a partition not held is ignored
        c.pausePartitions(List.of(paused)); // idempotent
        Map<Integer, List<Long>> more = publish(40);
        Map<Integer, List<Long>> delivered = new TreeMap<>();
        pollUntil(c, delivered, d -> allBut(paused, more, d));
        assertThat(delivered).as("nothing of paused partition %s", paused).doesNotContainKey(paused);

        c.resumePartitions(List.of(paused));
        pollUntil(c, delivered, d -> allBut(-1, more, d));
        assertThat(delivered.get(paused)).as("all of partition %s, in order, once", paused)
                .containsExactlyElementsOf(more.get(paused));
    }

    @Test
    void shouldForgetThePauseOfARevokedPartitionAndStartItUnpausedWhenAssignedAgain() {
        TransportConsumer first = consumer("m1");
        Map<Integer, List<Long>> delivered = new TreeMap<>();
        pollUntil(first, delivered, d -> !owned("m1").isEmpty());
        Set<Integer> all = new TreeSet<>(owned("m1"));
        first.pausePartitions(all);

        TransportConsumer second = consumer("m2");
        await().atMost(WAIT).pollInSameThread().until(() -> {
            poll(first, delivered);
            poll(second, new TreeMap<>());
            return !owned("m2").isEmpty();
        });
        Set<Integer> moved = new TreeSet<>(owned("m2"));
        second.close();
        consumers.remove(second);
        pollUntil(first, delivered, d -> owned("m1").containsAll(all));
        Map<Integer, List<Long>> sent = publish(40);
        pollUntil(first, delivered, d -> moved.stream().allMatch(p -> d.getOrDefault(p, List.of()).size()
                == sent.getOrDefault(p, List.of()).size()));

        assertThat(events).containsSubsequence("m1 revoked " + moved, "m2 assigned " + moved);
        Set<Integer> stillPaused = new TreeSet<>(all);
        stillPaused.removeAll(moved);
        assertThat(delivered.keySet()).as("partitions %s came back unpaused; %s stayed paused", moved, stillPaused)
                .doesNotContainAnyElementsOf(stillPaused);
        for (int p : moved) {
            assertThat(delivered.getOrDefault(p, List.of())).containsExactlyElementsOf(sent.getOrDefault(p, List.of()));
        }
    }

    private TransportConsumer consumer(String member) {
        TransportConsumer c = transport.consumer(new ConsumerSpec(topic, "g", member, StartPosition.EARLIEST),
                new PartitionListener() {
                    @Override
                    public void assigned(Collection<Integer> partitions) {
                        events.add(member + " assigned " + new TreeSet<>(partitions));
                    }

                    @Override
                    public void revoked(Collection<Integer> partitions) {
                        events.add(member + " revoked " + new TreeSet<>(partitions));
                    }

                    @Override
                    public void lost(Collection<Integer> partitions) {
                        events.add(member + " lost " + new TreeSet<>(partitions));
                    }
                });
        consumers.add(c);
        return c;
    }

    /** The partitions {@code member} holds according to its listener's events. */
    private Set<Integer> owned(String member) {
        Set<Integer> owned = new TreeSet<>();
        for (String e : events) {
            if (!e.startsWith(member + " ")) {
                continue;
            }
            String[] parts = e.substring(member.length() + 1).split(" ", 2);
            List<Integer> ps = parts[1].equals("[]") ? List.of() : java.util.Arrays.stream(
                    parts[1].substring(1, parts[1].length() - 1).split(", ")).map(Integer::valueOf).toList();
            if (parts[0].equals("assigned")) {
                owned.addAll(ps);
            } else {
                owned.removeAll(ps);
            }
        }
        return owned;
    }

    /** Publishes {@code n} keyed messages; the offsets each partition got, in order. */
    private Map<Integer, List<Long>> publish(int n) {
        Map<Integer, List<Long>> offsets = new TreeMap<>();
        for (int i = 0; i < n; i++) {
            // The SPI takes messages whose id and timestamp are set (the publisher sets them).
            Receipt r = transport.producer().send(topic, Message.of("k" + i, "m" + i)
                    .withDefaults(System.currentTimeMillis())).join();
            offsets.computeIfAbsent(r.partition(), p -> new ArrayList<>()).add(r.offset());
        }
        assertThat(offsets.size()).as("messages spread over partitions").isGreaterThan(1);
        return offsets;
    }

    private void pollUntil(TransportConsumer c, Map<Integer, List<Long>> delivered,
                           Predicate<Map<Integer, List<Long>>> done) {
        await().atMost(WAIT).pollInSameThread().until(() -> {
            poll(c, delivered);
            return done.test(delivered);
        });
    }

    private static void poll(TransportConsumer c, Map<Integer, List<Long>> delivered) throws InterruptedException {
        c.poll(1000, Long.MAX_VALUE, true, POLL_NANOS, (m, partition, offset, size, attempt, handle) ->
                delivered.computeIfAbsent(partition, p -> new ArrayList<>()).add(offset));
    }

    /** True once {@code delivered} holds as many records of each partition but {@code except} as were sent. */
    private static boolean allBut(int except, Map<Integer, List<Long>> sent, Map<Integer, List<Long>> delivered) {
        return sent.entrySet().stream().filter(e -> e.getKey() != except)
                .allMatch(e -> delivered.getOrDefault(e.getKey(), List.of()).size() >= e.getValue().size());
    }
}
