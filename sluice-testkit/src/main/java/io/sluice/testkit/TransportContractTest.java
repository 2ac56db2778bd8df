package io.sluice.testkit;

import io.sluice.DeadLetterException;
import io.sluice.DeadLetters;
import io.sluice.Handler;
import io.sluice.Headers;
import io.sluice.Message;
import io.sluice.Publisher;
import io.sluice.Receipt;
import io.sluice.RetryLaterException;
import io.sluice.Sluice;
import io.sluice.Subscription;
import io.sluice.config.ConfigException;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.DeadLetterPolicy;
import io.sluice.config.RetryPolicy;
import io.sluice.config.SluiceConfig;
import io.sluice.spi.Acknowledgement;
import io.sluice.spi.Transport;
import io.sluice.spi.TransportCapabilities;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.Timeout;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The contract every Sluice transport passes unchanged: publish, consume in groups, order per key, retry, dead
 * letter, at-least-once across crashes, bounded in-flight work and graceful shutdown.
 *
 * <p>A transport joins by subclassing and implementing {@link #createTransport()} (called once per test; the suite
 * closes it) and {@link #invalidSetting()}. Topics are created on first use and must have at least 3 partitions, so a
 * group of three members can split them. Tests that need a capability the transport lacks are skipped by
 * {@link org.junit.jupiter.api.Assumptions}, each with the reason.
 *
 * <p>Each test uses fresh topic and group names. Checkers record what handlers see and fail the test on any loss,
 * reorder, overlap of one key, or committed position past an unfinished message.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
public abstract class TransportContractTest {
    private static final Duration WAIT = Duration.ofSeconds(60);

    /** A fresh transport for one test. */
    protected abstract Transport createTransport();

    /**
     * Settings of this transport with one invalid value, and the key its error must name.
     *
     * @return the transport's configuration name, the settings section, and the dotted key at fault
     */
    protected abstract InvalidSetting invalidSetting();

    /** An invalid transport setting for {@link #shouldFailFastOnInvalidConfiguration()}. */
    public record InvalidSetting(String transport, Map<String, Object> settings, String key) {
    }

    protected Transport transport;
    protected Sluice sluice;
    protected String topic;
    protected DeliveryLog log;

    @BeforeEach
    void startClient(TestInfo info) {
        transport = createTransport();
        sluice = Sluice.create(transport, SluiceConfig.of(transport.name()));
        String method = info.getTestMethod().map(m -> m.getName()).orElse("test");
        topic = "contract-" + method.replaceAll("[^A-Za-z0-9]", "") + "-" + Long.toHexString(System.nanoTime());
        log = new DeliveryLog();
    }

    @AfterEach
    void closeClient() {
        sluice.close();
    }

    protected TransportCapabilities capabilities() {
        return transport.capabilities();
    }

    protected String group(String name) {
        return topic + "-" + name;
    }

    protected ConsumerOptions.Builder options() {
        return ConsumerOptions.builder()
                .retry(RetryPolicy.builder().initialDelay(Duration.ofMillis(10)).maxDelay(Duration.ofMillis(50))
                        .maxAttempts(3).build())
                .commitInterval(Duration.ofMillis(20))
                .shutdownTimeout(Duration.ofSeconds(10));
    }

    /** Publishes {@code perKey} messages for each of {@code keys} keys, interleaved, with {@link DeliveryLog#SEQ}. */
    protected List<Receipt> publishKeyed(String toTopic, int keys, int perKey, int payloadBytes) {
        Publisher publisher = sluice.publisher();
        List<java.util.concurrent.CompletableFuture<Receipt>> futures = new ArrayList<>();
        byte[] payload = new byte[payloadBytes];
        for (int seq = 0; seq < perKey; seq++) {
            for (int k = 0; k < keys; k++) {
                Message m = Message.builder().key("key-" + k).payload(payload)
                        .header(DeliveryLog.SEQ, Integer.toString(seq)).build();
                futures.add(publisher.publish(toTopic, m));
            }
        }
        List<Receipt> receipts = new ArrayList<>();
        for (var f : futures) {
            Receipt r = f.join();
            log.published(r);
            receipts.add(r);
        }
        return receipts;
    }

    protected Receipt publish(String toTopic, Message m) {
        Receipt r = sluice.publisher().publish(toTopic, m).join();
        log.published(r);
        return r;
    }

    /** Collects every message on {@code dlqTopic} in a group of its own. */
    protected List<Message> collectDeadLetters(String dlqTopic) {
        List<Message> letters = new CopyOnWriteArrayList<>();
        sluice.subscribe(dlqTopic, group("dlq-reader"), letters::add, options().build());
        return letters;
    }

    private static void sleepMillis(long millis) throws InterruptedException {
        Thread.sleep(millis);
    }

    // ------------------------------------------------------------------ round trip

    @Test
    void shouldRoundTripKeysPayloadsAndHeadersByteExact() {
        byte[] binary = new byte[256];
        for (int i = 0; i < binary.length; i++) {
            binary[i] = (byte) i;
        }
        long ts = Instant.parse("2026-01-02T03:04:05.678Z").toEpochMilli();
        List<Message> sent = List.of(
                Message.builder().key("text").payload("hello").header("h1", "v1").header("empty", "")
                        .timestampMillis(ts).build(),
                Message.builder().key("text").payload(new byte[0]).timestampMillis(ts + 1).build(),
                Message.builder().key("binary").payload(binary).header(Message.CONTENT_TYPE,
                        "application/octet-stream").timestampMillis(ts + 2).build(),
                Message.builder().key("ключ-🔑-鍵").payload("ünïcödé ✓".getBytes(StandardCharsets.UTF_8))
                        .header("zeta", "last-name-first").header("名前", "値 ✓ 🚀").header("alpha", "ä")
                        .timestampMillis(ts + 3).build(),
                Message.builder().payload("no key").id("custom-id-1").timestampMillis(ts + 4).build());
        Map<String, Message> byId = new ConcurrentHashMap<>();
        sluice.subscribe(topic, group("g"), m -> byId.put(m.id(), m), options().build());
        List<String> ids = new ArrayList<>();
        for (Message m : sent) {
            ids.add(publish(topic, m).messageId());
        }
        Message unstamped = Message.builder().key("stamp").payload("x").build();
        long before = System.currentTimeMillis();
        String unstampedId = publish(topic, unstamped).messageId();

        await().atMost(WAIT).until(() -> byId.size() == sent.size() + 1);
        assertThat(ids.get(4)).isEqualTo("custom-id-1");
        for (int i = 0; i < sent.size(); i++) {
            Message expected = sent.get(i);
            Message got = byId.get(ids.get(i));
            assertThat(got).as("message %d", i).isNotNull();
            assertThat(got.id()).isEqualTo(ids.get(i));
            assertThat(got.key()).isEqualTo(expected.key());
            assertThat(got.payload()).isEqualTo(expected.payload());
            assertThat(entries(got.headers())).as("headers of message %d, in order", i)
                    .containsExactlyElementsOf(entries(expected.headers()));
            assertThat(got.timestampMillis()).isEqualTo(expected.timestampMillis());
        }
        Message stamped = byId.get(unstampedId);
        assertThat(unstampedId).matches("[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
        assertThat(stamped.timestampMillis()).isBetween(before - 1000, System.currentTimeMillis() + 1000);
    }

    private static List<String> entries(Headers headers) {
        List<String> out = new ArrayList<>();
        headers.forEach((k, v) -> out.add(k + "=" + v));
        return out;
    }

    // ------------------------------------------------------------------ groups

    @Test
    void shouldSplitWorkAcrossGroupOfThreeExactlyOnce() {
        // Without ordered partitions (NATS core queue groups pick a member per message) the split is still checked
        // to be exactly once; only per-key order across the group is not.
        boolean ordered = capabilities().orderedPerPartition();
        String g = group("workers");
        Map<Integer, AtomicInteger> perMember = new ConcurrentHashMap<>();
        List<Subscription> members = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            int member = i;
            perMember.put(member, new AtomicInteger());
            members.add(sluice.subscribe(topic, g, m -> {
                sleepMillis(1);
                perMember.get(member).incrementAndGet();
                if (ordered) {
                    log.handled(m, false);
                } else {
                    log.handledInAnyOrder(m);
                }
            }, options().build()));
        }
        await().atMost(WAIT).until(() -> members.stream().allMatch(s -> !s.assignedPartitions().isEmpty()));
        publishKeyed(topic, 100, 6, 16);

        await().atMost(WAIT).until(log::allHandled);
        assertThat(log.duplicates()).as("messages handled twice although nothing failed").isZero();
        assertThat(log.handledTotal()).isEqualTo(600);
        assertThat(perMember.values()).as("work per member").allSatisfy(c -> assertThat(c.get()).isPositive());
        assertThat(log.violations()).isEmpty();
    }

    // ------------------------------------------------------------------ ordering

    @Test
    void shouldKeepPerKeyOrderUnderConcurrency() throws Exception {
        int keys = 512;
        int perKey = 10;
        // The first messages of 32 keys each wait until all 32 run at once: keys ran in parallel, shown by counts
        // rather than by a peak that depends on how busy the machine is.
        ParallelGate gate = new ParallelGate(32);
        sluice.subscribe(topic, group("ordered"), m -> {
            log.started(m);
            try {
                if ("0".equals(m.header(DeliveryLog.SEQ))) {
                    gate.arrive();
                }
                TimeUnit.MICROSECONDS.sleep(ThreadLocalRandom.current().nextInt(2000));
                log.handled(m, true);
            } finally {
                log.ended(m);
            }
        }, options().maxInFlight(256).build());
        publishKeyed(topic, keys, perKey, 8);

        await().atMost(WAIT).until(log::allHandled);
        assertThat(log.violations()).as("order or overlap violations").isEmpty();
        assertThat(log.handledTotal()).isEqualTo((long) keys * perKey);
        assertThat(gate.opened()).as("32 keys were handled at the same time").isTrue();
        assertThat(log.peakConcurrency()).as("peak handler concurrency with maxInFlight 256")
                .isGreaterThanOrEqualTo(32).isLessThanOrEqualTo(256);
    }

    /**
     * Holds the first {@code parties} handlers that arrive until all of them are running at once (or the test's
     * wait passes, which then fails the test through {@link #opened()}); later arrivals pass straight through.
     */
    protected static final class ParallelGate {
        private final int parties;
        private final java.util.concurrent.CountDownLatch latch;
        private final AtomicInteger arrived = new AtomicInteger();

        public ParallelGate(int parties) {
            this.parties = parties;
            this.latch = new java.util.concurrent.CountDownLatch(parties);
        }

        public void arrive() throws InterruptedException {
            if (arrived.incrementAndGet() <= parties) {
                latch.countDown();
                latch.await(WAIT.toMillis(), TimeUnit.MILLISECONDS);
            }
        }

        public boolean opened() {
            return latch.getCount() == 0;
        }
    }

    // ------------------------------------------------------------------ retries and dead letters

    @Test
    void shouldRetryThenSucceed() {
        Map<String, AtomicInteger> attempts = new ConcurrentHashMap<>();
        Subscription sub = sluice.subscribe(topic, group("retry"), m -> {
            int attempt = attempts.computeIfAbsent(m.id(), id -> new AtomicInteger()).incrementAndGet();
            if (attempt < 3) {
                throw new IllegalStateException("transient failure " + attempt);
            }
            log.handled(m, true);
        }, options().retry(RetryPolicy.builder().initialDelay(Duration.ofMillis(10))
                .maxDelay(Duration.ofMillis(20)).maxAttempts(5).build()).build());
        Receipt r = publish(topic, Message.of("k", "flaky"));

        await().atMost(WAIT).until(log::allHandled);
        assertThat(attempts.get(r.messageId()).get()).isEqualTo(3);
        assertThat(log.timesHandled(r.messageId())).isEqualTo(1);
        await().atMost(WAIT).until(() -> sub.stats().inFlight() == 0);
        assertThat(sub.stats().retried()).isEqualTo(2);
        assertThat(sub.stats().deadLettered()).isZero();
    }

    @Test
    void shouldDeadLetterWithCauseHeadersAfterRetriesExhausted() {
        String dlq = DeadLetters.defaultTopic(topic);
        List<Message> letters = collectDeadLetters(dlq);
        List<String> handledOrder = new CopyOnWriteArrayList<>();
        Map<String, AtomicInteger> attempts = new ConcurrentHashMap<>();
        String longMessage = "boom ".repeat(100);
        String g = group("exhaust");
        Subscription sub = sluice.subscribe(topic, g, m -> {
            attempts.computeIfAbsent(m.id(), id -> new AtomicInteger()).incrementAndGet();
            if ("true".equals(m.header("poison"))) {
                throw new IllegalStateException(longMessage);
            }
            handledOrder.add(m.payloadAsString());
        }, options().deadLetter(DeadLetterPolicy.builder().maxErrorMessageLength(64).build()).build());
        byte[] original = {0, 1, 2, (byte) 0xff, 'x'};
        long before = System.currentTimeMillis();
        Receipt poison = publish(topic, Message.builder().key("same-key").payload(original)
                .header("poison", "true").header("trace", "t-1").build());
        publish(topic, Message.of("same-key", "after-poison"));

        await().atMost(WAIT).until(() -> letters.size() == 1 && handledOrder.contains("after-poison"));
        Message letter = letters.get(0);
        assertThat(letter.payload()).isEqualTo(original);
        assertThat(letter.key()).isEqualTo("same-key");
        assertThat(letter.header("trace")).isEqualTo("t-1");
        assertThat(letter.header("poison")).isEqualTo("true");
        assertThat(letter.header(DeadLetters.REASON)).isEqualTo(DeadLetters.REASON_RETRIES_EXHAUSTED);
        assertThat(letter.header(DeadLetters.ERROR_CLASS)).isEqualTo(IllegalStateException.class.getName());
        assertThat(letter.header(DeadLetters.ERROR_MESSAGE)).startsWith("boom boom").hasSizeLessThanOrEqualTo(64);
        assertThat(letter.header(DeadLetters.ATTEMPTS)).isEqualTo("3");
        assertThat(letter.header(DeadLetters.ORIGINAL_TOPIC)).isEqualTo(topic);
        assertThat(letter.header(DeadLetters.ORIGINAL_PARTITION)).isEqualTo(Integer.toString(poison.partition()));
        assertThat(letter.header(DeadLetters.ORIGINAL_OFFSET)).isEqualTo(Long.toString(poison.offset()));
        assertThat(letter.header(DeadLetters.GROUP)).isEqualTo(g);
        assertThat(letter.header(DeadLetters.ORIGINAL_ID)).isEqualTo(poison.messageId());
        assertThat(letter.id()).isNotEqualTo(poison.messageId());
        Instant firstFailure = Instant.parse(letter.header(DeadLetters.FIRST_FAILURE_TIME));
        assertThat(firstFailure.toEpochMilli()).isBetween(before - 1000, System.currentTimeMillis());
        assertThat(attempts.get(poison.messageId()).get()).isEqualTo(3);
        assertThat(handledOrder).containsExactly("after-poison");
        await().atMost(WAIT).until(() -> sub.stats().deadLettered() == 1);
    }

    @Test
    void shouldDeadLetterNonRetryableAndRejectedAtFirstFailure() {
        List<Message> letters = collectDeadLetters(DeadLetters.defaultTopic(topic));
        Map<String, AtomicInteger> attempts = new ConcurrentHashMap<>();
        sluice.subscribe(topic, group("nonretry"), m -> {
            attempts.computeIfAbsent(m.id(), id -> new AtomicInteger()).incrementAndGet();
            if (m.payloadAsString().equals("bad-argument")) {
                throw new IllegalArgumentException("not a valid order");
            }
            throw new DeadLetterException("handler refused it");
        }, options().retry(RetryPolicy.builder().initialDelay(Duration.ofMillis(10)).maxDelay(Duration.ofMillis(10))
                .maxAttempts(5).nonRetryable(IllegalArgumentException.class).build()).build());
        Receipt bad = publish(topic, Message.of("a", "bad-argument"));
        Receipt refused = publish(topic, Message.of("b", "refused"));

        await().atMost(WAIT).until(() -> letters.size() == 2);
        Map<String, Message> byOriginal = letters.stream()
                .collect(Collectors.toMap(m -> m.header(DeadLetters.ORIGINAL_ID), m -> m));
        Message badLetter = byOriginal.get(bad.messageId());
        assertThat(badLetter.header(DeadLetters.REASON)).isEqualTo(DeadLetters.REASON_NON_RETRYABLE);
        assertThat(badLetter.header(DeadLetters.ERROR_CLASS)).isEqualTo(IllegalArgumentException.class.getName());
        assertThat(badLetter.header(DeadLetters.ERROR_MESSAGE)).isEqualTo("not a valid order");
        assertThat(badLetter.header(DeadLetters.ATTEMPTS)).isEqualTo("1");
        Message refusedLetter = byOriginal.get(refused.messageId());
        assertThat(refusedLetter.header(DeadLetters.REASON)).isEqualTo(DeadLetters.REASON_REJECTED);
        assertThat(refusedLetter.header(DeadLetters.ATTEMPTS)).isEqualTo("1");
        assertThat(attempts.get(bad.messageId()).get()).isEqualTo(1);
        assertThat(attempts.get(refused.messageId()).get()).isEqualTo(1);
    }

    /** A JSON payload for the undecodable test. */
    public record Order(String id, int quantity) {
    }

    @Test
    void shouldDeadLetterUndecodablePayload() {
        List<Message> letters = collectDeadLetters(DeadLetters.defaultTopic(topic));
        List<Order> orders = new CopyOnWriteArrayList<>();
        AtomicInteger handlerCalls = new AtomicInteger();
        Handler typed = sluice.codecs().handler(Order.class, (order, m) -> {
            handlerCalls.incrementAndGet();
            orders.add(order);
        });
        sluice.subscribe(topic, group("json"), typed, options().build());
        byte[] garbage = "{\"id\": \"o-1\", \"quantity\": ".getBytes(StandardCharsets.UTF_8);
        Receipt broken = publish(topic, Message.builder().key("o-1").payload(garbage)
                .header(Message.CONTENT_TYPE, "application/json").build());
        publish(topic, sluice.codecs().encode(new Order("o-2", 3)).key("o-2").build());

        await().atMost(WAIT).until(() -> letters.size() == 1 && orders.size() == 1);
        Message letter = letters.get(0);
        assertThat(letter.payload()).isEqualTo(garbage);
        assertThat(letter.header(DeadLetters.REASON)).isEqualTo(DeadLetters.REASON_UNDECODABLE);
        assertThat(letter.header(DeadLetters.ATTEMPTS)).as("the payload never reached the handler").isEqualTo("0");
        assertThat(letter.header(DeadLetters.ORIGINAL_ID)).isEqualTo(broken.messageId());
        assertThat(letter.header(DeadLetters.ERROR_MESSAGE)).contains("cannot decode");
        assertThat(orders).containsExactly(new Order("o-2", 3));
        assertThat(handlerCalls.get()).as("the typed handler never saw the broken payload").isEqualTo(1);
    }

    @Test
    void shouldNotDelayOtherKeysWhileOneKeyBacksOff() {
        // The slow key's first message backs off until every other message is done (events, not time): if other
        // keys waited for it, neither would ever finish and the test would fail by its wait.
        AtomicInteger slowAttempts = new AtomicInteger();
        AtomicInteger othersDone = new AtomicInteger();
        AtomicInteger othersExpected = new AtomicInteger(Integer.MAX_VALUE);
        List<String> events = new CopyOnWriteArrayList<>();
        sluice.subscribe(topic, group("backoff"), m -> {
            if (m.key().equals("slow")) {
                if (m.payloadAsString().equals("slow-0")) {
                    slowAttempts.incrementAndGet();
                    if (othersDone.get() < othersExpected.get()) {
                        throw RetryLaterException.notAttempted(Duration.ofMillis(20), "dependency busy");
                    }
                }
                events.add(m.payloadAsString());
                return;
            }
            sleepMillis(1);
            othersDone.incrementAndGet();
        }, options().retry(RetryPolicy.builder().maxAttempts(5).build()).build());
        Receipt slow = publish(topic, Message.of("slow", "slow-0"));
        publish(topic, Message.of("slow", "slow-1"));
        List<Receipt> others = publishKeyed(topic, 30, 10, 8);
        othersExpected.set(others.size());

        await().atMost(WAIT).until(() -> events.contains("slow-1"));
        assertThat(othersDone.get()).as("other messages handled while the slow key backed off")
                .isEqualTo(others.size());
        assertThat(events).as("the slow key's next message waited for it").containsExactly("slow-0", "slow-1");
        assertThat(slowAttempts.get()).as("the slow key was retried while the others ran").isGreaterThan(1);
        long samePartition = others.stream().filter(r -> r.partition() == slow.partition()).count();
        assertThat(samePartition).as("other keys on the slow key's own partition").isPositive();
    }

    // ------------------------------------------------------------------ at-least-once across failures

    @Test
    void shouldRedeliverUnfinishedWhenConsumerClosedMidFlight() throws Exception {
        checkAtLeastOnceAcrossFailure(false);
    }

    @Test
    void shouldRedeliverUnfinishedWhenConsumerAbandonedWithoutClose() throws Exception {
        checkAtLeastOnceAcrossFailure(true);
    }

    private void checkAtLeastOnceAcrossFailure(boolean abandon) throws Exception {
        assumeTrue(capabilities().atLeastOnce(), transport.name() + " is at-most-once: unfinished messages are not "
                + "redelivered by design");
        String g = group("alo");
        ConsumerOptions opts = options().maxInFlight(32).build();
        Handler handler = m -> {
            sleepMillis(5 + ThreadLocalRandom.current().nextInt(10));
            log.handled(m, false);
        };
        publishKeyed(topic, 40, 10, 32);
        CommitSampler sampler = new CommitSampler(g);
        // The first consumer slows to a crawl after 60 messages, so it is surely mid-flight when it stops, however
        // fast or loaded the machine is.
        java.util.concurrent.CountDownLatch stalled = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch endOfTest = new java.util.concurrent.CountDownLatch(1);
        Set<String> startedByFirst = ConcurrentHashMap.newKeySet();
        Handler firstHandler = m -> {
            startedByFirst.add(m.id());
            if (log.distinctHandled() >= 60) {
                stalled.countDown();
                endOfTest.await(1, TimeUnit.MINUTES); // hangs until the test is over (or its subscription stops)
            }
            handler.handle(m);
        };
        try {
            Subscription first = sluice.subscribe(topic, g, firstHandler, opts);
            stalled.await();
            if (abandon) {
                Subscriptions.abandon(first);
            } else {
                first.close(Duration.ofMillis(1));
            }
            sampler.sampleOnce();
            int handledByFirst = log.distinctHandled();
            assertThat(handledByFirst).as("the first consumer stopped mid-way").isLessThan(400);
            // Started and not finished when the first consumer stopped: on every transport (committed offsets or
            // per-message acks) these must come again, i.e. none was acknowledged before its handler finished.
            List<String> unfinishedAtStop = startedByFirst.stream().filter(id -> log.timesHandled(id) == 0).toList();
            assertThat(unfinishedAtStop).as("messages the first consumer had started and not finished").isNotEmpty();

            assertThat(log.violations()).as("commit violations when the first consumer stopped").isEmpty();

            sluice.subscribe(topic, g, handler, opts);
            await().atMost(WAIT).until(() -> log.allHandled() || !log.violations().isEmpty());
            sampler.stop();
            assertThat(log.violations()).as("order or commit violations").isEmpty();
            assertThat(log.unhandled()).as("lost messages").isEmpty();
            assertThat(unfinishedAtStop).as("unfinished at the stop, handled after it")
                    .allSatisfy(id -> assertThat(log.timesHandled(id)).isPositive());
        } finally {
            endOfTest.countDown();
        }
    }

    /** Watches committed positions during a test and checks none passes an unfinished message. */
    private final class CommitSampler {
        private final String group;
        private final Thread thread;
        private volatile boolean running = true;

        CommitSampler(String group) {
            this.group = group;
            boolean offsets = capabilities().acknowledgement() == Acknowledgement.OFFSETS;
            this.thread = Thread.ofPlatform().daemon(true).start(() -> {
                while (running && offsets) {
                    sampleOnce();
                    try {
                        Thread.sleep(5);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            });
        }

        void sampleOnce() {
            if (capabilities().acknowledgement() != Acknowledgement.OFFSETS) {
                return;
            }
            Set<Integer> partitions = log.receipts().values().stream().map(Receipt::partition)
                    .collect(Collectors.toSet());
            for (int p : partitions) {
                OptionalLong committed = transport.committedOffset(topic, group, p);
                if (committed.isPresent()) {
                    log.checkCommitted(p, committed.getAsLong());
                }
            }
        }

        void stop() throws InterruptedException {
            running = false;
            thread.join();
            sampleOnce();
        }
    }

    @Test
    void shouldKeepKeyOrderAndLoseNothingWhileMembersJoinAndLeave() {
        assumeTrue(capabilities().atLeastOnce(), transport.name() + " is at-most-once: a member that leaves takes its "
                + "unfinished messages with it by design");
        String g = group("churn");
        ConsumerOptions opts = options().maxInFlight(20).build();
        Handler handler = m -> {
            log.started(m);
            try {
                sleepMillis(1);
                log.handled(m, false);
            } finally {
                log.ended(m);
            }
        };
        publishKeyed(topic, 60, 40, 16);
        Subscription first = sluice.subscribe(topic, g, handler, opts);
        await().atMost(WAIT).until(() -> log.distinctHandled() >= 400);
        Subscription second = sluice.subscribe(topic, g, handler, opts);
        await().atMost(WAIT).until(() -> log.distinctHandled() >= 900);
        sluice.subscribe(topic, g, handler, opts);
        await().atMost(WAIT).until(() -> log.distinctHandled() >= 1400);
        first.close(Duration.ofSeconds(10));
        await().atMost(WAIT).until(() -> log.distinctHandled() >= 1900);
        second.close(Duration.ofSeconds(10));

        await().atMost(WAIT).until(() -> log.allHandled() || !log.violations().isEmpty());
        assertThat(log.violations()).as("order or overlap violations across members").isEmpty();
        assertThat(log.unhandled()).as("lost messages").isEmpty();
        // Each hand-over may repeat at most the revoked partitions' in-flight messages.
        assertThat(log.duplicates()).as("duplicates after four hand-overs with maxInFlight 20").isLessThanOrEqualTo(80);
    }

    /**
     * Partitions move while slow handlers drain: every hand-over happens while each member has handlers running that
     * take longer than a typical pull or poll interval (so revoking waits for them), and members join and leave four
     * times while 16 keys are handled in order. For each key the messages handled for the first time must come in
     * publish order (a redelivery may repeat an earlier message, never skip ahead), and nothing is lost. Steps are
     * driven by counts of handled messages and by the new member's assignment, not by time.
     */
    @Test
    void shouldKeepKeyOrderWhilePartitionsMoveDuringSlowDrains() {
        assumeTrue(capabilities().atLeastOnce(), transport.name() + " is at-most-once: a member that leaves takes its "
                + "unfinished messages with it by design");
        String g = group("slow-churn");
        ConsumerOptions opts = options().maxInFlight(16).shutdownTimeout(Duration.ofSeconds(20)).build();
        java.util.concurrent.atomic.AtomicBoolean slow = new java.util.concurrent.atomic.AtomicBoolean();
        Handler handler = m -> {
            log.started(m);
            try {
                // Handlers started around a membership change outlast it: the revoking member must drain them.
                sleepMillis(slow.get() ? 1_600 : 2);
                log.handled(m, false);
            } finally {
                log.ended(m);
            }
        };
        int keys = 16;
        int perKey = 20;
        publishKeyed(topic, keys, perKey, 16);
        Subscription first = sluice.subscribe(topic, g, handler, opts);
        await().atMost(WAIT).until(() -> log.distinctHandled() >= 40);

        slow.set(true);
        Subscription second = sluice.subscribe(topic, g, handler, opts);
        await().atMost(WAIT).until(() -> !second.assignedPartitions().isEmpty());
        slow.set(false);
        await().atMost(WAIT).until(() -> log.distinctHandled() >= 100);

        slow.set(true);
        Subscription third = sluice.subscribe(topic, g, handler, opts);
        await().atMost(WAIT).until(() -> !third.assignedPartitions().isEmpty());
        slow.set(false);
        await().atMost(WAIT).until(() -> log.distinctHandled() >= 160);

        slow.set(true);
        first.close(Duration.ofSeconds(20));
        slow.set(false);
        await().atMost(WAIT).until(() -> log.distinctHandled() >= 220);

        slow.set(true);
        second.close(Duration.ofSeconds(20));
        slow.set(false);

        await().atMost(WAIT).until(() -> log.allHandled() || !log.violations().isEmpty());
        assertThat(log.violations()).as("per-key order of first handlings, and one key on two members at once")
                .isEmpty();
        assertThat(log.unhandled()).as("lost messages").isEmpty();
        assertThat(log.distinctHandled()).isEqualTo(keys * perKey);
    }

    // ------------------------------------------------------------------ bounds

    @Test
    void shouldNeverExceedInFlightBound() {
        // A backlog first, so the bound is reached at once whatever the broker's round trip; keyed, so messages also
        // wait behind their key: the bound covers fetched messages, not only running ones. A transport that keeps
        // nothing for absent subscribers gets its subscriber first and the burst while it is busy.
        boolean backlogFirst = capabilities().durable();
        if (backlogFirst) {
            publishKeyed(topic, 40, 10, 8);
        }
        ParallelGate gate = new ParallelGate(8); // 8 handlers at once, whatever the machine's load
        Subscription sub = sluice.subscribe(topic, group("bound"), m -> {
            log.started(m);
            try {
                gate.arrive();
                sleepMillis(2);
                log.handled(m, true);
            } finally {
                log.ended(m);
            }
        }, options().maxInFlight(16).build());
        if (!backlogFirst) {
            publishKeyed(topic, 40, 10, 8);
        }
        await().atMost(WAIT).until(log::allHandled);
        assertThat(log.violations()).isEmpty();
        assertThat(gate.opened()).as("8 handlers ran at once").isTrue();
        assertThat(sub.stats().peakInFlight()).as("peak fetched-and-unfinished with maxInFlight 16")
                .isLessThanOrEqualTo(16).isGreaterThanOrEqualTo(8);
        assertThat(log.peakConcurrency()).as("peak handler concurrency").isLessThanOrEqualTo(16)
                .isGreaterThanOrEqualTo(8);
    }

    @Test
    void shouldNeverExceedInFlightBytesBound() {
        boolean backlogFirst = capabilities().durable();
        if (backlogFirst) {
            publishEightKiBMessages(100);
        }
        ParallelGate gate = new ParallelGate(2); // two 8 KiB messages fit in 40 KiB: shown by events, not load
        Subscription sub = sluice.subscribe(topic, group("bytes"), m -> {
            log.started(m);
            try {
                gate.arrive();
                sleepMillis(3);
                log.handled(m, false);
            } finally {
                log.ended(m);
            }
        }, options().maxInFlight(1000).maxInFlightBytes(40 * 1024).build());
        if (!backlogFirst) {
            publishEightKiBMessages(100);
        }
        await().atMost(WAIT).until(log::allHandled);
        assertThat(gate.opened()).as("two messages were handled at once").isTrue();
        assertThat(sub.stats().peakInFlight()).as("peak fetched messages of 8 KiB with a 40 KiB bound")
                .isLessThanOrEqualTo(5).isGreaterThanOrEqualTo(2);
        assertThat(log.peakConcurrency()).as("peak concurrency with 8 KiB messages and a 40 KiB bound")
                .isLessThanOrEqualTo(5).isGreaterThanOrEqualTo(2);
    }

    @Test
    void shouldKeepOtherPartitionsFlowingWhileOneMessageNeverFinishes() {
        assumeTrue(capabilities().orderedPerPartition(), transport.name() + " has no partitions to pause one of");
        // One message that never finishes (a dead letter whose publish keeps failing, say) fills its partition's
        // uncommitted window; only that partition may stop, the others go on to the end.
        java.util.concurrent.CountDownLatch endOfTest = new java.util.concurrent.CountDownLatch(1);
        Subscription sub = sluice.subscribe(topic, group("stuck"), m -> {
            if (m.payloadAsString().equals("never finishes")) {
                endOfTest.await(); // until the test is over and its subscription stops
                return;
            }
            log.handled(m, false);
        }, options().maxInFlight(16).maxUncommittedPerPartition(16).stallWarning(Duration.ofMillis(100)).build());
        try {
            Receipt stuck = sluice.publisher().publish(topic, Message.of("stuck-key", "never finishes")).join();
            List<Receipt> others = publishKeyed(topic, 60, 10, 8);
            long onStuckPartition = others.stream().filter(r -> r.partition() == stuck.partition()).count();
            assertThat(onStuckPartition).as("messages behind the stuck one, more than its window of 16")
                    .isGreaterThan(32);
            List<String> otherPartitions = others.stream().filter(r -> r.partition() != stuck.partition())
                    .map(Receipt::messageId).toList();
            assertThat(otherPartitions).as("messages on the other partitions").isNotEmpty();

            await().atMost(WAIT).until(() -> otherPartitions.stream().allMatch(id -> log.timesHandled(id) > 0));
            await().atMost(WAIT).until(() -> sub.stats().stalledPartitions().containsKey(stuck.partition()));
            assertThat(sub.stats().stalledPartitions()).as("the stalled partition and its stuck offset")
                    .containsEntry(stuck.partition(), stuck.offset());
            long handledOnStuck = others.stream().filter(r -> r.partition() == stuck.partition())
                    .filter(r -> log.timesHandled(r.messageId()) > 0).count();
            assertThat(handledOnStuck).as("the stuck partition stopped at its window").isLessThan(onStuckPartition);
        } finally {
            endOfTest.countDown();
        }
    }

    private void publishEightKiBMessages(int count) {
        byte[] payload = new byte[8 * 1024];
        List<java.util.concurrent.CompletableFuture<Receipt>> sent = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            sent.add(sluice.publisher().publish(topic, Message.of(payload)));
        }
        sent.forEach(f -> log.published(f.join()));
    }

    // ------------------------------------------------------------------ shutdown and timeouts

    @Test
    void shouldDrainInFlightWorkWithinDeadlineOnClose() {
        String g = group("drain");
        AtomicInteger started = new AtomicInteger();
        AtomicInteger finished = new AtomicInteger();
        Subscription sub = sluice.subscribe(topic, g, m -> {
            started.incrementAndGet();
            sleepMillis(300);
            finished.incrementAndGet();
        }, options().maxInFlight(10).build());
        for (int i = 0; i < 10; i++) {
            publish(topic, Message.of(("job-" + i).getBytes(StandardCharsets.UTF_8)));
        }
        await().atMost(WAIT).until(() -> started.get() == 10);
        // A deadline past the test's own timeout: close returning at all shows it waited for the handlers only.
        boolean drained = sub.close(Duration.ofMinutes(10));
        assertThat(drained).isTrue();
        assertThat(finished.get()).as("handlers finished by close").isEqualTo(10);

        List<String> redelivered = new CopyOnWriteArrayList<>();
        sluice.subscribe(topic, g, m -> redelivered.add(m.payloadAsString()), options().build());
        publish(topic, Message.of("marker".getBytes(StandardCharsets.UTF_8)));
        await().atMost(WAIT).until(() -> redelivered.contains("marker"));
        assertThat(redelivered).as("finished work is not delivered again").containsExactly("marker");
    }

    @Test
    void shouldTimeOutHungHandlerAndRetry() {
        AtomicInteger attempts = new AtomicInteger();
        AtomicReference<Boolean> firstWasInterrupted = new AtomicReference<>(false);
        sluice.subscribe(topic, group("hung"), m -> {
            if (attempts.incrementAndGet() == 1) {
                try {
                    Thread.sleep(Duration.ofHours(1));
                } catch (InterruptedException e) {
                    firstWasInterrupted.set(true);
                    throw e;
                }
            }
            log.handled(m, true);
        }, options().handlerTimeout(Duration.ofMillis(200)).build());
        publish(topic, Message.of("k", "hangs once"));
        await().atMost(WAIT).until(log::allHandled); // the hung attempt sleeps an hour: only the timeout ends it
        assertThat(attempts.get()).isEqualTo(2);
        assertThat(firstWasInterrupted.get()).isTrue();
    }

    @Test
    void shouldReportNoPartitionsOnceClosed() {
        Subscription sub = sluice.subscribe(topic, group("closed"), m -> log.handled(m, false), options().build());
        await().atMost(WAIT).until(() -> !sub.assignedPartitions().isEmpty());
        publish(topic, Message.of("k", "one"));
        await().atMost(WAIT).until(log::allHandled);
        assertThat(sub.close(Duration.ofSeconds(10))).isTrue();
        assertThat(sub.assignedPartitions()).as("partitions of a closed subscription").isEmpty();
    }

    // ------------------------------------------------------------------ configuration

    @Test
    void shouldFailFastOnInvalidConfiguration() {
        assertThatThrownBy(() -> ConsumerOptions.builder().maxInFlight(0).build())
                .isInstanceOf(ConfigException.class)
                .hasMessage("Invalid value 0 for configuration consumer.maxInFlight: must be between 1 and 1000000");
        assertThatThrownBy(() -> SluiceConfig.parse("consumer:\n  retry:\n    maxAttempts: 0\n", "test.yaml"))
                .isInstanceOf(ConfigException.class)
                .hasMessage("Invalid value 0 for configuration consumer.retry.maxAttempts: must be between 1 and 1000, or unlimited");

        InvalidSetting invalid = invalidSetting();
        SluiceConfig config = SluiceConfig.fromTree(Map.of("transport", invalid.transport(),
                invalid.transport(), invalid.settings()));
        assertThatThrownBy(() -> Sluice.createTransport(config).close())
                .isInstanceOf(ConfigException.class)
                .satisfies(e -> assertThat(((ConfigException) e).key()).isEqualTo(invalid.key()))
                .hasMessageContaining(invalid.key());

        Map<String, Object> misspelt = Map.of("definitelyNotASetting", 1);
        SluiceConfig unknown = SluiceConfig.fromTree(Map.of("transport", invalid.transport(),
                invalid.transport(), misspelt));
        assertThatThrownBy(() -> Sluice.createTransport(unknown).close())
                .isInstanceOf(ConfigException.class)
                .hasMessageStartingWith("Unknown configuration key " + invalid.transport() + ".definitelyNotASetting");
    }
}
