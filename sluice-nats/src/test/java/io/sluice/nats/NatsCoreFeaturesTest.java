package io.sluice.nats;

import io.sluice.Message;
import io.sluice.Sluice;
import io.sluice.Subscription;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.SluiceConfig;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/** Core mode: wildcard subscriptions, queue groups sharing load, request/reply. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class NatsCoreFeaturesTest {
    private static final Duration WAIT = Duration.ofSeconds(30);

    private Sluice sluice;
    private NatsRequests requests;
    private String prefix;

    @BeforeEach
    void start() {
        NatsTransport transport = new NatsTransport(NatsTestServer.settings(NatsTestServer.get().url())
                .mode(NatsSettings.Mode.CORE).build());
        sluice = Sluice.create(transport, SluiceConfig.of("nats"));
        requests = NatsRequests.of(sluice);
        prefix = "core" + Long.toHexString(System.nanoTime());
    }

    @AfterEach
    void stop() {
        sluice.close();
    }

    @Test
    void shouldDeliverBySubjectWildcards() {
        List<String> star = new CopyOnWriteArrayList<>();
        List<String> tail = new CopyOnWriteArrayList<>();
        sluice.subscribe(prefix + ".orders.*", "star", m -> star.add(m.payloadAsString()), ConsumerOptions.defaults());
        sluice.subscribe(prefix + ".orders.>", "tail", m -> tail.add(m.payloadAsString()), ConsumerOptions.defaults());
        sluice.publisher().publish(prefix + ".orders.eu", Message.of("k", "eu")).join();
        sluice.publisher().publish(prefix + ".orders.eu.paris", Message.of("k", "paris")).join();
        sluice.publisher().publish(prefix + ".invoices.eu", Message.of("k", "invoice")).join();

        await().atMost(WAIT).until(() -> tail.size() == 2);
        assertThat(tail).containsExactlyInAnyOrder("eu", "paris");
        await().atMost(WAIT).until(() -> star.size() == 1);
        assertThat(star).containsExactly("eu");
    }

    @Test
    void shouldShareLoadInQueueGroupAndCopyToOtherGroups() {
        AtomicInteger a = new AtomicInteger();
        AtomicInteger b = new AtomicInteger();
        AtomicInteger audit = new AtomicInteger();
        String topic = prefix + ".jobs";
        Subscription s1 = sluice.subscribe(topic, "workers", m -> a.incrementAndGet(), ConsumerOptions.defaults());
        Subscription s2 = sluice.subscribe(topic, "workers", m -> b.incrementAndGet(), ConsumerOptions.defaults());
        sluice.subscribe(topic, "audit", m -> audit.incrementAndGet(), ConsumerOptions.defaults());
        for (int i = 0; i < 200; i++) {
            sluice.publisher().publish(topic, Message.of(("job-" + i).getBytes())).join();
        }
        await().atMost(WAIT).until(() -> a.get() + b.get() == 200 && audit.get() == 200);
        assertThat(a.get()).as("member one's share").isPositive();
        assertThat(b.get()).as("member two's share").isPositive();
        assertThat(s1.assignedPartitions()).containsExactly(0);
        assertThat(s2.assignedPartitions()).containsExactly(0);
    }

    @Test
    void shouldAnswerRequestsAndFailClearlyWithoutResponderOrOnHandlerError() {
        String subject = prefix + ".echo";
        try (NatsRequests.Responder echo = requests.respond(subject, "echoers",
                r -> Message.builder().key(r.key()).payload("echo: " + r.payloadAsString())
                        .header("answered-by", "echo").build())) {
            Message reply = requests.request(subject, Message.of("k-1", "hi ✓"), Duration.ofSeconds(5)).join();
            assertThat(reply.payloadAsString()).isEqualTo("echo: hi ✓");
            assertThat(reply.key()).isEqualTo("k-1");
            assertThat(reply.header("answered-by")).isEqualTo("echo");
        }

        assertThatThrownBy(() -> requests.request(prefix + ".nobody", Message.of("k", "anyone?"),
                Duration.ofMillis(500)).join())
                .isInstanceOf(CompletionException.class)
                .cause().isInstanceOf(NatsRequestException.class)
                .hasMessageContaining(prefix + ".nobody");

        try (NatsRequests.Responder failing = requests.respond(prefix + ".fails", null, r -> {
            throw new IllegalStateException("inventory service down");
        })) {
            assertThatThrownBy(() -> requests.request(prefix + ".fails", Message.of("k", "x"),
                    Duration.ofSeconds(5)).join())
                    .cause().isInstanceOf(NatsRequestException.class)
                    .hasMessageContaining("the responder on " + prefix + ".fails failed")
                    .hasMessageContaining("inventory service down");
        }
    }

    @Test
    void shouldFailARequestWhoseReplyDoesNotComeWithinTheTimeout() throws Exception {
        String subject = prefix + ".slow";
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.atomic.AtomicBoolean answered = new java.util.concurrent.atomic.AtomicBoolean();
        try (NatsRequests.Responder slow = requests.respond(subject, "slow", r -> {
            release.await(30, TimeUnit.SECONDS);
            answered.set(true);
            return Message.of("k", "late");
        })) {
            java.util.concurrent.CompletableFuture<Message> reply = requests.request(subject, Message.of("k", "?"),
                    Duration.ofMillis(300));
            assertThatThrownBy(() -> reply.get(20, TimeUnit.SECONDS))
                    .cause().isInstanceOf(NatsRequestException.class)
                    .hasMessage("no reply from " + subject + " within 300 ms (no responder, or it was too slow)");
            // The responder is held until after the failure: the request's own timeout ended it, not a reply.
            assertThat(answered).as("the responder answered before the request failed").isFalse();
            release.countDown();
        }
    }

    @Test
    void shouldDropMessagesBeyondTheByteBoundOfTheCoreBuffer() throws Exception {
        String topic = prefix + ".bulky";
        try (Sluice small = Sluice.create(new NatsTransport(NatsTestServer.settings(NatsTestServer.get().url())
                .mode(NatsSettings.Mode.CORE).coreBuffer(1000, 4096).build()), SluiceConfig.of("nats"));
             io.nats.client.Connection witness = io.nats.client.Nats.connect(NatsTestServer.get().url())) {
            java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
            AtomicInteger handled = new AtomicInteger();
            java.util.concurrent.atomic.AtomicBoolean markerHandled = new java.util.concurrent.atomic.AtomicBoolean();
            small.subscribe(topic, "g", m -> {
                if ("marker".equals(m.payloadAsString())) {
                    markerHandled.set(true);
                    return;
                }
                release.await(30, TimeUnit.SECONDS);
                handled.incrementAndGet();
            }, ConsumerOptions.builder().maxInFlight(1).shutdownTimeout(Duration.ofSeconds(1)).build());
            io.nats.client.Subscription seen = witness.subscribe(topic);
            witness.flush(Duration.ofSeconds(5));
            byte[] kib = new byte[1024];
            for (int i = 0; i < 20; i++) {
                small.publisher().publish(topic, Message.of(kib)).join();
            }
            // The server sends each message to both subscribers; once the witness and this connection have all 20,
            // the subscription's buffer (its handler holds one message and blocks) has had its chance at each.
            for (int i = 0; i < 20; i++) {
                assertThat(seen.nextMessage(Duration.ofSeconds(5))).isNotNull();
            }
            await().atMost(WAIT).until(() -> ((NatsTransport) small.transport()).connection().getStatistics()
                    .getInMsgs() >= 20);
            release.countDown();
            // A small marker published after the 20 reaches the subscription after them: once one is handled (one at
            // a time, in arrival order), everything buffered before it was. Markers are sent until one fits the
            // buffer.
            await().atMost(WAIT).until(() -> {
                small.publisher().publish(topic, Message.of("marker".getBytes(java.nio.charset.StandardCharsets.UTF_8))).join();
                return markerHandled.get();
            });
            // One in the handler and three of about 1 KiB in a 4 KiB buffer; the message-count bound (1000) alone
            // would have kept all 20.
            assertThat(handled.get()).as("1 KiB messages handled").isBetween(2, 4);
        }
    }
}
