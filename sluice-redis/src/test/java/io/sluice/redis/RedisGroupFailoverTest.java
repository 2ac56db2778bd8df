package io.sluice.redis;

import io.sluice.Message;
import io.sluice.Receipt;
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
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The group across processes: each member here has a transport (client, connections, heartbeat thread) of its own, as
 * members in different processes would, and they agree only through Redis.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class RedisGroupFailoverTest {
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final long POLL_NANOS = TimeUnit.MILLISECONDS.toNanos(100);

    private final String topic = "failover-" + System.nanoTime();
    private final List<AutoCloseable> cleanup = new ArrayList<>();
    private final Map<String, Set<Integer>> owned = new ConcurrentHashMap<>();

    @AfterEach
    void close() throws Exception {
        for (AutoCloseable c : cleanup.reversed()) {
            c.close();
        }
    }

    private RedisTransport transport() {
        RedisTransport t = new RedisTransport(RedisTestServer.settings(RedisTestServer.get()).build());
        cleanup.add(t);
        return t;
    }

    private TransportConsumer consumer(RedisTransport t, String member) {
        owned.put(member, ConcurrentHashMap.newKeySet());
        TransportConsumer c = t.consumer(new ConsumerSpec(topic, "g", member, StartPosition.EARLIEST),
                new PartitionListener() {
                    @Override
                    public void assigned(Collection<Integer> partitions) {
                        owned.get(member).addAll(partitions);
                    }

                    @Override
                    public void revoked(Collection<Integer> partitions) {
                        owned.get(member).removeAll(partitions);
                    }

                    @Override
                    public void lost(Collection<Integer> partitions) {
                        owned.get(member).removeAll(partitions);
                    }
                });
        return c;
    }

    /** One delivered record. */
    private record Got(int partition, long offset, String id, String key, int seq, Object handle) {
    }

    private static void poll(TransportConsumer c, List<Got> into) throws InterruptedException {
        c.poll(1000, Long.MAX_VALUE, true, POLL_NANOS, (m, partition, offset, size, attempt, handle) ->
                into.add(new Got(partition, offset, m.id(), m.key(), Integer.parseInt(m.header("seq")), handle)));
    }

    private List<Receipt> publish(RedisTransport t, int keys, int fromSeq, int toSeq) {
        List<Receipt> receipts = new ArrayList<>();
        for (int seq = fromSeq; seq < toSeq; seq++) {
            for (int k = 0; k < keys; k++) {
                Message m = Message.builder().id(topic + "-" + k + "-" + seq).key("key-" + k)
                        .header("seq", Integer.toString(seq)).payload("v" + seq).build();
                receipts.add(t.producer().send(topic, m).join());
            }
        }
        return receipts;
    }

    @Test
    void shouldSplitPartitionsBetweenMembersOfDifferentProcessesAndHandThemOverWhenOneLeaves() {
        RedisTransport a = transport();
        RedisTransport b = transport();
        TransportConsumer first = consumer(a, "a");
        TransportConsumer second = consumer(b, "b");
        List<Got> ignored = new ArrayList<>();
        await().atMost(WAIT).pollInSameThread().until(() -> {
            poll(first, ignored);
            poll(second, ignored);
            return owned.get("a").size() == 2 && owned.get("b").size() == 2;
        });
        Set<Integer> all = new TreeSet<>(owned.get("a"));
        all.addAll(owned.get("b"));
        assertThat(all).as("the members split the 4 partitions, none twice").containsExactly(0, 1, 2, 3);

        second.close();
        await().atMost(WAIT).pollInSameThread().until(() -> {
            poll(first, ignored);
            return owned.get("a").size() == 4;
        });
        first.close();
    }

    @Test
    void shouldHandTheUnacknowledgedMessagesOfADeadMemberToTheNewOwnerInOrderBeforeNewOnes() throws Exception {
        RedisTransport dying = transport();
        publish(dying, 8, 0, 5); // 40 messages over 8 keys
        TransportConsumer victim = consumer(dying, "victim");
        List<Got> seenByVictim = new ArrayList<>();
        await().atMost(WAIT).pollInSameThread().until(() -> {
            poll(victim, seenByVictim);
            return seenByVictim.size() == 40;
        });
        // It finished (acknowledged) the first message of each partition, then its process died: no leave, no
        // more heartbeats; its leases and membership run out after the session timeout.
        Set<Integer> ackedPartitions = new HashSet<>();
        Set<String> acked = new HashSet<>();
        for (Got g : seenByVictim) {
            if (ackedPartitions.add(g.partition())) {
                victim.ack(g.handle());
                acked.add(g.id());
            }
        }
        await().atMost(WAIT).until(() -> pendingCount(dying) == 40 - acked.size());
        dying.close();

        RedisTransport survivor = transport();
        publish(survivor, 8, 5, 8); // 24 new messages, published after the death
        TransportConsumer heir = consumer(survivor, "heir");
        List<Got> seenByHeir = new ArrayList<>();
        await().atMost(WAIT).pollInSameThread().until(() -> {
            poll(heir, seenByHeir);
            seenByHeir.forEach(g -> heir.ack(g.handle()));
            return seenByHeir.size() >= 40 - acked.size() + 24;
        });

        assertThat(owned.get("heir")).containsExactlyInAnyOrder(0, 1, 2, 3);
        assertThat(seenByHeir).as("each unfinished and new message once").hasSize(40 - acked.size() + 24);
        assertThat(seenByHeir).extracting(Got::id).doesNotContainAnyElementsOf(acked).doesNotHaveDuplicates();
        Map<Integer, List<Long>> offsets = new TreeMap<>();
        Map<String, List<Integer>> seqs = new TreeMap<>();
        for (Got g : seenByHeir) {
            offsets.computeIfAbsent(g.partition(), p -> new ArrayList<>()).add(g.offset());
            seqs.computeIfAbsent(g.key(), k -> new ArrayList<>()).add(g.seq());
        }
        // In offset order per partition: the claimed ones (older) before any new one.
        offsets.values().forEach(o -> assertThat(o).isSorted());
        seqs.values().forEach(s -> assertThat(s).isSorted().doesNotHaveDuplicates());
        assertThat(seqs.values()).allSatisfy(s -> assertThat(s).endsWith(5, 6, 7));
        await().atMost(WAIT).until(() -> consumers(survivor).size() == 1); // the heir only: the dead one deleted
        assertThat(consumers(survivor)).allSatisfy(name -> assertThat(name).startsWith("heir-"));
        heir.close();
        // The dead member's consumer was deleted once its entries were claimed, the heir's when it left.
        await().atMost(WAIT).until(() -> consumers(survivor).isEmpty());
    }

    private static String text(Object reply) {
        return reply instanceof byte[] b ? new String(b, java.nio.charset.StandardCharsets.UTF_8) : String.valueOf(reply);
    }

    /** The consumer names in the group's consumer lists of the topic's streams. */
    @SuppressWarnings("unchecked")
    private Set<String> consumers(RedisTransport t) throws Exception {
        Set<String> names = new java.util.TreeSet<>();
        for (String stream : t.names().streams(topic)) {
            for (Object info : t.commands().xinfoConsumers(stream, "g").get()) {
                List<Object> fields = (List<Object>) info;
                for (int i = 0; i + 1 < fields.size(); i += 2) {
                    if ("name".equals(text(fields.get(i)))) {
                        names.add(text(fields.get(i + 1)));
                    }
                }
            }
        }
        return names;
    }

    @Test
    void shouldGiveUpThePartitionsOfAMemberWhoseHeartbeatsStallWhileItKeepsPolling() throws Exception {
        RedisTransport stalling = transport();
        TransportConsumer stalled = consumer(stalling, "stalled");
        List<Got> seenByStalled = new ArrayList<>();
        await().atMost(WAIT).pollInSameThread().until(() -> {
            poll(stalled, seenByStalled);
            return owned.get("stalled").size() == 4;
        });
        stalling.scheduler().shutdownNow(); // its heartbeats stop; its poll thread goes on

        RedisTransport healthy = transport();
        TransportConsumer taker = consumer(healthy, "taker");
        List<Got> seenByTaker = new ArrayList<>();
        await().atMost(WAIT).pollInSameThread().until(() -> {
            poll(stalled, seenByStalled);
            poll(taker, seenByTaker);
            return owned.get("stalled").isEmpty() && owned.get("taker").size() == 4;
        });
        publish(healthy, 8, 0, 5);
        await().atMost(WAIT).pollInSameThread().until(() -> {
            poll(stalled, seenByStalled);
            poll(taker, seenByTaker);
            return seenByTaker.size() == 40;
        });
        poll(stalled, seenByStalled);
        assertThat(seenByStalled).as("read by the member that lost its leases").isEmpty();
        taker.close();
        stalled.close();
    }

    @Test
    void shouldHandTheUnfinishedMessagesOfAClosedMemberToTheNextAtOnceRatherThanAfterClaimIdle() {
        // claimIdle of an hour: only a member's own release makes its unfinished messages claimable before that.
        RedisSettings slowClaims = RedisTestServer.settings(RedisTestServer.get()).claimIdle(Duration.ofHours(1))
                .build();
        RedisTransport transport = new RedisTransport(slowClaims);
        cleanup.add(transport);
        io.sluice.Sluice sluice = io.sluice.Sluice.create(transport, io.sluice.config.SluiceConfig.of("redis"));
        cleanup.add(sluice);
        List<String> handled = new java.util.concurrent.CopyOnWriteArrayList<>();
        java.util.concurrent.CountDownLatch started = new java.util.concurrent.CountDownLatch(8);
        io.sluice.Subscription first = sluice.subscribe(topic, "g", m -> {
            started.countDown();
            Thread.sleep(TimeUnit.MINUTES.toMillis(10)); // never finishes: cancelled at close
        }, io.sluice.config.ConsumerOptions.builder().maxInFlight(8).build());
        for (int i = 0; i < 40; i++) {
            sluice.publisher().publish(topic, Message.builder().key("key-" + i).payload("v" + i).build()).join();
        }
        await().atMost(WAIT).until(() -> started.getCount() == 0);
        first.close(Duration.ofMillis(100));

        sluice.subscribe(topic, "g", m -> handled.add(m.payloadAsString()),
                io.sluice.config.ConsumerOptions.builder().build());
        await().atMost(WAIT).until(() -> handled.size() >= 40);
        assertThat(handled).hasSize(40).doesNotHaveDuplicates();
    }

    private long pendingCount(RedisTransport t) throws Exception {
        long n = 0;
        for (String stream : t.names().streams(topic)) {
            n += t.commands().xpending(stream, "g").get().getCount();
        }
        return n;
    }
}
