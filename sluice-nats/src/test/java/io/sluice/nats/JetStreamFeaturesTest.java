package io.sluice.nats;

import io.nats.client.Connection;
import io.nats.client.Dispatcher;
import io.nats.client.JetStreamManagement;
import io.nats.client.Nats;
import io.nats.client.api.ConsumerInfo;
import io.nats.client.api.DiscardPolicy;
import io.nats.client.api.StorageType;
import io.nats.client.api.StreamConfiguration;
import io.nats.client.api.StreamInfo;
import io.sluice.DeadLetterException;
import io.sluice.DeadLetters;
import io.sluice.Message;
import io.sluice.Receipt;
import io.sluice.RetryLaterException;
import io.sluice.Sluice;
import io.sluice.Subscription;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.RetryPolicy;
import io.sluice.config.SluiceConfig;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * JetStream behaviour beyond the contract suite: native delayed redelivery, dead letter before term, dedup, receipts,
 * progress acks, in-flight bound on MaxAckPending and pulls, partitions.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class JetStreamFeaturesTest {
    private static final Duration WAIT = Duration.ofSeconds(60);

    private NatsTransport transport;
    private Sluice sluice;
    private String topic;

    @BeforeEach
    void start(TestInfo info) {
        transport = new NatsTransport(NatsTestServer.settings(NatsTestServer.get().url())
                .ackWait(Duration.ofSeconds(2)).build());
        sluice = Sluice.create(transport, SluiceConfig.of("nats"));
        topic = "js-" + info.getTestMethod().orElseThrow().getName() + "-" + Long.toHexString(System.nanoTime());
    }

    @AfterEach
    void stop() {
        sluice.close();
    }

    private ConsumerOptions.Builder options() {
        return ConsumerOptions.builder().shutdownTimeout(Duration.ofSeconds(5))
                .retry(RetryPolicy.builder().initialDelay(Duration.ofMillis(10)).maxDelay(Duration.ofMillis(20))
                        .maxAttempts(3).build());
    }

    @Test
    void shouldHandLongRetriesToNakWithDelayAndCountServerRedeliveriesAsAttempts() throws Exception {
        List<Message> letters = new CopyOnWriteArrayList<>();
        sluice.subscribe(DeadLetters.defaultTopic(topic), "dlq", letters::add, options().build());
        AtomicInteger attempts = new AtomicInteger();
        List<Long> attemptTimes = new CopyOnWriteArrayList<>();
        String group = "delayed";
        sluice.subscribe(topic, group, m -> {
            attempts.incrementAndGet();
            attemptTimes.add(System.nanoTime());
            throw new RetryLaterException(Duration.ofMillis(300), "downstream busy");
        }, options().retry(RetryPolicy.builder().maxAttempts(3).nativeDelayThreshold(Duration.ofMillis(100))
                .build()).build());
        Receipt r = sluice.publisher().publish(topic, Message.of("k", "retry me")).join();

        await().atMost(WAIT).until(() -> letters.size() == 1);
        Message letter = letters.get(0);
        assertThat(letter.header(DeadLetters.ATTEMPTS)).as("server redeliveries count as attempts").isEqualTo("3");
        assertThat(letter.header(DeadLetters.REASON)).isEqualTo(DeadLetters.REASON_RETRIES_EXHAUSTED);
        assertThat(attempts.get()).isEqualTo(3);
        for (int i = 1; i < attemptTimes.size(); i++) {
            assertThat(attemptTimes.get(i) - attemptTimes.get(i - 1)).as("delay before attempt %d", i + 1)
                    .isGreaterThanOrEqualTo(TimeUnit.MILLISECONDS.toNanos(250));
        }
        ConsumerInfo info = transport.management().getConsumerInfo(Names.stream(topic),
                Names.durable(group, r.partition()));
        assertThat(info.getDelivered().getConsumerSequence()).as("the server, not memory, delivered it three times")
                .isEqualTo(3);
        await().atMost(WAIT).until(() -> transport.management().getConsumerInfo(Names.stream(topic),
                Names.durable(group, r.partition())).getNumAckPending() == 0);
    }

    /**
     * A message handed back unstarted (it waited behind its key when its subscription closed) comes back with a
     * higher JetStream delivery count, but no handler attempt was made: its retries must not be used up.
     */
    @Test
    void shouldNotCountReleasesAsHandlerAttempts() throws Exception {
        java.util.concurrent.CountDownLatch endOfTest = new java.util.concurrent.CountDownLatch(1);
        try {
            List<Message> letters = new CopyOnWriteArrayList<>();
            sluice.subscribe(DeadLetters.defaultTopic(topic), "dlq", letters::add, options().build());
            sluice.publisher().publish(topic, Message.builder().key("k").payload("first").build()).join();
            Receipt second = sluice.publisher().publish(topic, Message.builder().key("k").payload("second").build())
                    .join();
            String group = "released";
            // Twice: "first" blocks its key, "second" waits behind it, and closing hands both back unfinished.
            for (int round = 0; round < 2; round++) {
                AtomicInteger started = new AtomicInteger();
                Subscription blocked = sluice.subscribe(topic, group, m -> {
                    started.incrementAndGet();
                    endOfTest.await(1, TimeUnit.MINUTES); // hangs until the test is over
                }, options().shutdownTimeout(Duration.ofMillis(100)).build());
                await().atMost(WAIT).until(() -> started.get() == 1);
                await().atMost(WAIT).until(() -> blocked.stats().inFlight() == 2);
                blocked.close();
            }
            ConsumerInfo info = transport.management().getConsumerInfo(Names.stream(topic),
                    Names.durable(group, second.partition()));
            assertThat(info.getDelivered().getConsumerSequence()).as("each delivered three times by the server")
                    .isGreaterThanOrEqualTo(4);

            List<String> handled = new CopyOnWriteArrayList<>();
            AtomicInteger secondAttempts = new AtomicInteger();
            sluice.subscribe(topic, group, m -> {
                if (m.payloadAsString().equals("second") && secondAttempts.incrementAndGet() == 1) {
                    throw new IllegalStateException("one failure, with two more attempts allowed");
                }
                handled.add(m.payloadAsString());
            }, options().build());
            await().atMost(WAIT).until(() -> handled.size() == 2 || !letters.isEmpty());
            assertThat(letters).as("dead letters").isEmpty();
            assertThat(handled).containsExactly("first", "second");
            assertThat(secondAttempts.get()).isEqualTo(2);
        } finally {
            endOfTest.countDown();
        }
    }

    @Test
    void shouldStoreRetriedPublishOnceThanksToMessageId() throws Exception {
        transport.producer().send(topic, Message.of("other", "first in the stream")
                .withDefaults(System.currentTimeMillis())).join();
        Message m = Message.builder().id("order-42-v1").key("order-42").payload("once").build()
                .withDefaults(System.currentTimeMillis());
        Receipt first = transport.producer().send(topic, m).join();
        Receipt again = transport.producer().send(topic, m).join();
        assertThat(again.offset()).as("a duplicate is answered with the original sequence").isEqualTo(first.offset());
        assertThat(again.partition()).isEqualTo(first.partition());
        StreamInfo info = transport.management().getStreamInfo(Names.stream(topic));
        assertThat(info.getStreamState().getMsgCount()).isEqualTo(2);
    }

    @Test
    void shouldPutTheStreamSequenceAndPartitionSubjectIntoReceipts() throws Exception {
        List<Receipt> receipts = new java.util.ArrayList<>();
        for (int i = 0; i < 5; i++) {
            receipts.add(sluice.publisher().publish(topic, Message.of("key-" + i, "m" + i)).join());
        }
        for (int i = 0; i < receipts.size(); i++) {
            Receipt r = receipts.get(i);
            assertThat(r.offset()).as("stream sequences count from 1 in publish order").isEqualTo(i + 1);
            io.nats.client.api.MessageInfo stored = transport.management().getMessage(Names.stream(topic), r.offset());
            assertThat(stored.getSubject()).isEqualTo(Names.subject(topic, r.partition()));
            assertThat(stored.getHeaders().getFirst("Nats-Msg-Id")).isEqualTo(r.messageId());
            assertThat(new String(stored.getData(), java.nio.charset.StandardCharsets.UTF_8)).isEqualTo("m" + i);
        }
    }

    /**
     * The dead-letter stream refuses new messages (full, discard-new) until the test lifts its limit: the engine keeps
     * retrying the dead-letter publish, the source message stays unacknowledged (in progress) on the server, and
     * only once the dead letter is stored does the server see the source terminated.
     */
    @Test
    void shouldTerminateTheSourceOnlyAfterTheDeadLetterIsConfirmed() throws Exception {
        String dlq = DeadLetters.defaultTopic(topic);
        String dlqStream = Names.stream(dlq);
        JetStreamManagement jsm = transport.management();
        StreamConfiguration full = StreamConfiguration.builder().name(dlqStream)
                .subjects(Names.subject(dlq, 0), Names.subject(dlq, 1), Names.subject(dlq, 2))
                .storageType(StorageType.File).duplicateWindow(Duration.ofMinutes(2))
                .maxMessages(1).discardPolicy(DiscardPolicy.New).build();
        jsm.addStream(full);
        try (Connection witness = Nats.connect(NatsTestServer.get().url())) {
            witness.jetStream().publish(Names.subject(dlq, 0), "filler".getBytes());
            // The server's advisory for a +TERM, with the dead-letter stream's message count when it arrived.
            List<Long> dlqCountAtTerm = new CopyOnWriteArrayList<>();
            JetStreamManagement witnessJsm = witness.jetStreamManagement();
            Dispatcher advisories = witness.createDispatcher(msg -> {
                try {
                    dlqCountAtTerm.add(witnessJsm.getStreamInfo(dlqStream).getStreamState().getMsgCount());
                } catch (Exception e) {
                    dlqCountAtTerm.add(-1L);
                }
            });
            advisories.subscribe("$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED." + Names.stream(topic) + ".>");
            JetStreamWitness progress = new JetStreamWitness(NatsTestServer.get().url(), topic);
            witness.flush(Duration.ofSeconds(5));

            String group = "rejects";
            sluice.subscribe(topic, group, m -> {
                throw new DeadLetterException("malformed order");
            }, options().build());
            Receipt r = sluice.publisher().publish(topic, Message.of("k", "poison")).join();
            String durable = Names.durable(group, r.partition());

            // Longer than the 2 s ack wait: the source is neither terminated nor redelivered while the letter waits.
            await().atMost(WAIT).until(() -> !dlqCountAtTerm.isEmpty()
                    || jsm.getConsumerInfo(Names.stream(topic), durable).getNumAckPending() == 1);
            // Four in-progress acks, each sent a third of the 2 s ack wait after the last: the source has been held
            // past an ack wait, so a redelivery or a +TERM would have happened by now.
            await().atMost(WAIT).until(() -> progress.messagesWithProgressAcks(4) == 1);
            progress.close();
            assertThat(dlqCountAtTerm).as("terminated while its dead letter was refused").isEmpty();
            ConsumerInfo source = jsm.getConsumerInfo(Names.stream(topic), durable);
            assertThat(source.getNumAckPending()).as("the source, unacknowledged").isEqualTo(1);
            assertThat(source.getRedelivered()).as("the source, redelivered by the server").isZero();
            assertThat(jsm.getStreamInfo(dlqStream).getStreamState().getMsgCount()).isEqualTo(1);

            jsm.updateStream(StreamConfiguration.builder(jsm.getStreamInfo(dlqStream).getConfiguration())
                    .maxMessages(-1).build());
            await().atMost(WAIT).until(() -> dlqCountAtTerm.size() == 1);
            assertThat(dlqCountAtTerm).as("dead letters stored when the source was terminated").containsExactly(2L);
            io.nats.client.api.MessageInfo letter = jsm.getLastMessage(dlqStream, Names.subject(dlq, r.partition()));
            assertThat(new String(letter.getData(), java.nio.charset.StandardCharsets.UTF_8)).isEqualTo("poison");
            await().atMost(WAIT).until(() -> jsm.getConsumerInfo(Names.stream(topic), durable).getNumAckPending() == 0);
            assertThat(jsm.getConsumerInfo(Names.stream(topic), durable).getDelivered().getConsumerSequence())
                    .as("in-progress acks kept the server from redelivering it meanwhile").isEqualTo(1);
        }
    }

    @Test
    void shouldKeepSlowMessageFromBeingRedeliveredWhileEngineHoldsIt() throws Exception {
        AtomicInteger finished = new AtomicInteger();
        String group = "slow";
        int partition;
        try (JetStreamWitness witness = new JetStreamWitness(NatsTestServer.get().url(), topic)) {
            sluice.subscribe(topic, group, m -> {
                // Held until seven in-progress acks went out, each a third of the 2 s ack wait after the last: past
                // two ack waits, however slowly this machine runs.
                await().atMost(WAIT).until(() -> witness.messagesWithProgressAcks(7) == 1);
                finished.incrementAndGet();
            }, options().handlerTimeout(Duration.ofSeconds(90)).build());
            partition = sluice.publisher().publish(topic, Message.of("k", "slow one")).join().partition();
            await().atMost(WAIT).until(() -> finished.get() == 1);
        }
        String durable = Names.durable(group, partition);
        await().atMost(WAIT).until(() -> transport.management().getConsumerInfo(Names.stream(topic), durable)
                .getNumAckPending() == 0);
        // A redelivery would have raised the consumer sequence even if it had not reached the handler yet.
        ConsumerInfo info = transport.management().getConsumerInfo(Names.stream(topic), durable);
        assertThat(info.getDelivered().getConsumerSequence())
                .as("in-progress acks stopped the server from redelivering").isEqualTo(1);
    }

    @Test
    void shouldSizeMaxAckPendingAndPullsFromTheInFlightBound() throws Exception {
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        AtomicInteger handled = new AtomicInteger();
        Subscription sub = sluice.subscribe(topic, "bounded", m -> {
            release.await();
            handled.incrementAndGet();
        }, options().maxInFlight(37).shutdownTimeout(Duration.ofSeconds(2)).build());
        await().atMost(WAIT).until(() -> sub.assignedPartitions().size() == 3);
        for (int p = 0; p < 3; p++) {
            ConsumerInfo info = transport.management().getConsumerInfo(Names.stream(topic), Names.durable("bounded", p));
            assertThat(info.getConsumerConfiguration().getMaxAckPending())
                    .as("the in-flight bound, plus as much again for messages waiting for a delayed redelivery")
                    .isEqualTo(2 * 37);
            assertThat(info.getConsumerConfiguration().getAckWait()).isEqualTo(Duration.ofSeconds(2));
        }
        List<java.util.concurrent.CompletableFuture<Receipt>> sent = new java.util.ArrayList<>();
        for (int i = 0; i < 300; i++) {
            sent.add(sluice.publisher().publish(topic, Message.of("key-" + i, "m" + i)));
        }
        sent.forEach(java.util.concurrent.CompletableFuture::join);
        // Handlers block: what the server has sent the member (MaxAckPending alone would allow 3 x 74) is what the
        // pulls asked for, and they ask for no more than the in-flight bound.
        // Once the engine holds its bound and no pull waits on the server, nothing more can arrive.
        await().atMost(WAIT).until(() -> ackPending("bounded") >= 37 && waiting("bounded") == 0);
        assertThat(ackPending("bounded")).as("messages the server sent the member").isEqualTo(37);
        release.countDown();
        await().atMost(WAIT).until(() -> handled.get() == 300);
    }

    private long waiting(String group) throws Exception {
        return sumOverPartitions(group, ConsumerInfo::getNumWaiting);
    }

    private long ackPending(String group) throws Exception {
        return sumOverPartitions(group, ConsumerInfo::getNumAckPending);
    }

    private long sumOverPartitions(String group, java.util.function.ToLongFunction<ConsumerInfo> value)
            throws Exception {
        long sum = 0;
        for (int p = 0; p < 3; p++) {
            sum += value.applyAsLong(transport.management().getConsumerInfo(Names.stream(topic),
                    Names.durable(group, p)));
        }
        return sum;
    }

    @Test
    void shouldSplitPartitionsBetweenMembersAndHandThemOverWhenOneLeaves() throws Exception {
        Map<String, Integer> handledBy = new ConcurrentHashMap<>();
        Subscription a = sluice.subscribe(topic, "pair", m -> handledBy.put(m.id(), 1), options().build());
        Subscription b = sluice.subscribe(topic, "pair", m -> handledBy.put(m.id(), 2), options().build());
        try (OverlapSampler overlap = new OverlapSampler(a, b)) {
            await().atMost(WAIT).until(() -> !a.assignedPartitions().isEmpty() && !b.assignedPartitions().isEmpty()
                    && a.assignedPartitions().size() + b.assignedPartitions().size() == 3);
            // Keep sampling for a while after the split settled: a count of samples, not a time window.
            long settledAt = overlap.samples();
            await().atMost(WAIT).until(() -> overlap.samples() >= settledAt + 200);
            assertThat(a.assignedPartitions().size() + b.assignedPartitions().size()).isEqualTo(3);
            assertThat(overlap.seen()).as("partitions held by both members at once, sampled every few ms from "
                    + "subscribing until the split settled").isEmpty();
        }
        b.close(); // a closed subscription keeps showing its last assignment, so sampling stops here
        await().atMost(WAIT).until(() -> a.assignedPartitions().size() == 3);
        for (int i = 0; i < 30; i++) {
            sluice.publisher().publish(topic, Message.of("key-" + i, "after")).join();
        }
        await().atMost(WAIT).until(() -> handledBy.size() == 30);
        assertThat(handledBy.values()).containsOnly(1);
    }

    /** Samples, on a thread of its own, whether two subscriptions ever hold the same partition at once. */
    static final class OverlapSampler implements AutoCloseable {
        private final Set<Integer> seen = ConcurrentHashMap.newKeySet();
        private final java.util.concurrent.atomic.AtomicLong samples = new java.util.concurrent.atomic.AtomicLong();
        private final Thread thread;
        private volatile boolean running = true;

        OverlapSampler(Subscription a, Subscription b) {
            thread = Thread.ofPlatform().daemon(true).start(() -> {
                while (running) {
                    Set<Integer> both = new HashSet<>(a.assignedPartitions());
                    both.retainAll(b.assignedPartitions());
                    seen.addAll(both);
                    samples.incrementAndGet();
                    java.util.concurrent.locks.LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(2));
                }
            });
        }

        long samples() {
            return samples.get();
        }

        Set<Integer> seen() {
            return Set.copyOf(seen);
        }

        @Override
        public void close() throws InterruptedException {
            running = false;
            thread.join();
        }
    }
}
