package io.sluice.nats;

import io.nats.client.api.ConsumerInfo;
import io.sluice.Message;
import io.sluice.Receipt;
import io.sluice.RetryLaterException;
import io.sluice.Sluice;
import io.sluice.Subscription;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.RetryPolicy;
import io.sluice.config.SluiceConfig;
import io.sluice.testkit.DeliveryLog;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * What the server holds for a member stays within the member's bounds: messages waiting for a delayed redelivery do
 * not block other keys, buffered messages are kept from redelivery while a subscription is paused, and pulls ask
 * for no more bytes than the engine has room for.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class JetStreamFlowControlTest {
    private static final Duration WAIT = Duration.ofSeconds(30);

    private final List<AutoCloseable> closing = new ArrayList<>();
    private NatsTransport transport;
    private String topic;

    @BeforeEach
    void name(TestInfo info) {
        topic = "flow-" + info.getTestMethod().orElseThrow().getName() + "-" + Long.toHexString(System.nanoTime());
    }

    @AfterEach
    void stop() throws Exception {
        for (int i = closing.size() - 1; i >= 0; i--) {
            closing.get(i).close();
        }
    }

    private Sluice start(NatsSettings.Builder settings) {
        transport = new NatsTransport(settings.build());
        Sluice sluice = Sluice.create(transport, SluiceConfig.of("nats"));
        closing.add(sluice);
        return sluice;
    }

    /** Messages the server has sent to group {@code group} and not yet seen acknowledged, over all partitions. */
    private long ackPending(String group, int partitions) throws Exception {
        long sum = 0;
        for (int p = 0; p < partitions; p++) {
            sum += info(group, p).getNumAckPending();
        }
        return sum;
    }

    private ConsumerInfo info(String group, int partition) throws Exception {
        return transport.management().getConsumerInfo(Names.stream(topic), Names.durable(group, partition));
    }

    @Test
    void shouldKeepOtherKeysFlowingWhileManyMessagesWaitForDelayedRedelivery() throws Exception {
        Sluice sluice = start(NatsTestServer.settings(NatsTestServer.get().url()).partitions(1));
        AtomicInteger good = new AtomicInteger();
        AtomicInteger badAttempts = new AtomicInteger();
        // Every "bad" message asks for a retry in a minute: with nativeDelayThreshold it goes to the server as a
        // delayed nak and stays unacknowledged there for that minute.
        Subscription sub = sluice.subscribe(topic, "g", m -> {
            if (m.key().startsWith("bad")) {
                badAttempts.incrementAndGet();
                throw new RetryLaterException(Duration.ofMinutes(1), "downstream busy");
            }
            good.incrementAndGet();
        }, ConsumerOptions.builder().maxInFlight(4).shutdownTimeout(Duration.ofSeconds(2))
                .retry(RetryPolicy.builder().maxAttempts(100).nativeDelayThreshold(Duration.ofMillis(100)).build())
                .build());
        await().atMost(WAIT).until(() -> sub.assignedPartitions().size() == 1);
        for (int i = 0; i < 6; i++) {
            sluice.publisher().publish(topic, Message.of("bad-" + i, "fails")).join();
        }
        await().atMost(WAIT).until(() -> badAttempts.get() >= 6);
        for (int i = 0; i < 10; i++) {
            sluice.publisher().publish(topic, Message.of("good-" + i, "fine")).join();
        }

        // With MaxAckPending equal to the in-flight bound (4), four parked messages would stop the partition for a
        // minute; the retries beyond the headroom stay in memory instead.
        await().atMost(WAIT).until(() -> good.get() == 10);
        assertThat(info("g", 0).getConsumerConfiguration().getMaxAckPending()).isEqualTo(8);
        // Four parked on the server (the headroom above the bound), two retried in memory, the good ones acked.
        await().atMost(WAIT).until(() -> ackPending("g", 1) == 6);
    }

    /**
     * A pull holds the room it asked for until it is filled or expires, even on a partition with one message. The
     * partitions a member takes together must therefore share its first pulls: if the first one taken asked for all the
     * room, the others would get their messages only when that pull expired.
     */
    @Test
    void shouldShareTheFirstPullsAmongThePartitionsTakenTogether() throws Exception {
        Sluice sluice = start(NatsTestServer.settings(NatsTestServer.get().url())
                .group(Duration.ofMillis(200), Duration.ofSeconds(8)).pullExpiry(Duration.ofSeconds(3)));
        java.util.Set<Integer> partitions = new java.util.HashSet<>();
        java.util.Set<String> published = new java.util.HashSet<>();
        for (int i = 0; partitions.size() < 3; i++) {
            Receipt r = sluice.publisher().publish(topic, Message.of("key-" + i, "m")).join();
            partitions.add(r.partition());
            published.add(r.messageId());
        }
        java.util.Set<String> handled = java.util.concurrent.ConcurrentHashMap.newKeySet();
        // A witness sees the member's pull requests, in the order the server got them.
        try (io.nats.client.Connection witness = io.nats.client.Nats.connect(NatsTestServer.get().url())) {
            io.nats.client.Subscription pulls = witness.subscribe("$JS.API.CONSUMER.MSG.NEXT."
                    + Names.stream(topic) + ".>");
            witness.flush(Duration.ofSeconds(5));
            sluice.subscribe(topic, "g", m -> handled.add(m.id()),
                    ConsumerOptions.builder().maxInFlight(100).shutdownTimeout(Duration.ofSeconds(2)).build());
            await().atMost(WAIT).until(() -> handled.containsAll(published));
            // The first three pull requests went to three different partitions: none waited for another's pull to
            // expire (3 s) before its first request.
            java.util.Set<String> firstThree = new java.util.HashSet<>();
            for (int i = 0; i < 3; i++) {
                io.nats.client.Message pull = pulls.nextMessage(WAIT);
                assertThat(pull).as("pull request %d", i + 1).isNotNull();
                firstThree.add(pull.getSubject());
            }
            assertThat(firstThree).as("partitions of the first three pull requests").hasSize(3);
        }
    }

    @Test
    void shouldNotRedeliverBufferedMessagesWhilePausedLongerThanTheAckWait() throws Exception {
        // Long pulls, so one is surely waiting on the server when the subscription pauses.
        Sluice sluice = start(NatsTestServer.settings(NatsTestServer.get().url()).ackWait(Duration.ofSeconds(1))
                .group(Duration.ofMillis(200), Duration.ofSeconds(8)).pullExpiry(Duration.ofSeconds(5)));
        DeliveryLog log = new DeliveryLog();
        Subscription sub = sluice.subscribe(topic, "g", m -> log.handled(m, true),
                ConsumerOptions.builder().maxInFlight(100).shutdownTimeout(Duration.ofSeconds(2)).build());
        await().atMost(WAIT).until(() -> sub.assignedPartitions().size() == 3);
        for (int p = 0; p < 3; p++) {
            int partition = p;
            await().atMost(WAIT).until(() -> info("g", partition).getNumWaiting() > 0);
        }
        JetStreamWitness witness = new JetStreamWitness(NatsTestServer.get().url(), topic);
        sub.pause();
        // pause() does not cut short a poll already under way: that poll still hands over what arrives first (all of
        // it, if the poll thread wakes late on a loaded machine). A probe message sees that poll out: it is handed
        // over at once by such a poll, or else stays in the member's buffer.
        log.published(sluice.publisher().publish(topic, Message.builder().key("key-0").payload("probe")
                .header(DeliveryLog.SEQ, "0").build()).join());
        await().atMost(WAIT).until(() -> ackPending("g", 3) + log.handledTotal() == 1);
        List<CompletableFuture<Receipt>> sent = new ArrayList<>();
        for (int seq = 0; seq < 3; seq++) {
            for (int k = seq == 0 ? 1 : 0; k < 10; k++) {
                sent.add(sluice.publisher().publish(topic, Message.builder().key("key-" + k).payload("x")
                        .header(DeliveryLog.SEQ, Integer.toString(seq)).build()));
            }
        }
        sent.forEach(f -> log.published(f.join()));
        // The waiting pulls bring the other 29 into the member's buffer; paused, the engine takes none of them.
        await().atMost(WAIT).until(() -> ackPending("g", 3) + log.handledTotal() == 30);
        long handledBeforePause = log.handledTotal();
        assertThat(ackPending("g", 3)).isGreaterThanOrEqualTo(29);
        // Every buffered message is held through four ack waits: twelve in-progress acks each, a third of the 1 s ack
        // wait apart at least. Without them the server would queue the messages again, which its redelivery count
        // shows.
        await().atMost(WAIT).until(() -> witness.messagesWithProgressAcks(12) >= 29);
        witness.close();
        assertThat(log.handledTotal()).as("handled while paused").isEqualTo(handledBeforePause);
        for (int p = 0; p < 3; p++) {
            assertThat(info("g", p).getRedelivered()).as("redelivered by the server on partition %d", p).isZero();
        }
        sub.resume();

        await().atMost(WAIT).until(log::allHandled);
        await().atMost(WAIT).until(() -> ackPending("g", 3) == 0);
        assertThat(log.violations()).as("per-key order").isEmpty();
        assertThat(log.duplicates()).as("messages handled twice").isZero();
        long delivered = 0;
        for (int p = 0; p < 3; p++) {
            delivered += info("g", p).getDelivered().getConsumerSequence();
        }
        assertThat(delivered).as("deliveries by the server: each message once").isEqualTo(30);
    }

    @Test
    void shouldFetchNoMoreBytesThanTheEngineHasRoomFor() throws Exception {
        Sluice sluice = start(NatsTestServer.settings(NatsTestServer.get().url()));
        CountDownLatch release = new CountDownLatch(1);
        AtomicInteger started = new AtomicInteger();
        AtomicInteger handled = new AtomicInteger();
        byte[] kib = new byte[1024];
        List<CompletableFuture<Receipt>> sent = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            sent.add(sluice.publisher().publish(topic, Message.of(kib)));
        }
        sent.forEach(CompletableFuture::join);
        // Room for a hundred messages but only 8 KiB: seven or so of these 1 KiB messages (ids and headers count).
        sluice.subscribe(topic, "g", m -> {
            started.incrementAndGet();
            release.await();
            handled.incrementAndGet();
        }, ConsumerOptions.builder().maxInFlight(100).maxInFlightBytes(8 * 1024)
                .shutdownTimeout(Duration.ofSeconds(2)).build());
        await().atMost(WAIT).until(() -> started.get() >= 5);

        // Handlers are blocked: whatever the server sends now waits in the member's buffer. Once no pull of the
        // member waits on the server, nothing more can arrive: what it holds must fit the byte bound.
        await().atMost(WAIT).until(() -> info("g", 0).getNumWaiting() + info("g", 1).getNumWaiting()
                + info("g", 2).getNumWaiting() == 0);
        assertThat(ackPending("g", 3)).as("messages of about 1 KiB fetched with 8 KiB of room").isLessThanOrEqualTo(8);
        release.countDown();
        await().atMost(WAIT).until(() -> handled.get() == 40);
    }
}
