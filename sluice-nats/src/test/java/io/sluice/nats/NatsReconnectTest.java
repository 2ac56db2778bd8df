package io.sluice.nats;

import io.sluice.Message;
import io.sluice.Receipt;
import io.sluice.Sluice;
import io.sluice.brokers.nats.NatsServer;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.PublisherOptions;
import io.sluice.config.SluiceConfig;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * Restarts a real nats-server (its own, stopped by pid and started again on the same store) while a client
 * publishes and consumes. SIGTERM is used for the restart: nats-server 2.9 flushes its file store lazily, so a SIGKILL
 * may drop messages it had already acknowledged (see docs/nats.md).
 */
@Timeout(value = 150, unit = TimeUnit.SECONDS)
class NatsReconnectTest {
    private static final Duration WAIT = Duration.ofSeconds(60);

    private NatsServer server;
    private NatsTransport transport;
    private Sluice sluice;

    @BeforeEach
    void start() {
        server = NatsServer.start();
        transport = new NatsTransport(NatsTestServer.settings(server.url())
                .reconnect(-1, Duration.ofMillis(100), Duration.ofMillis(50), 16L * 1024 * 1024)
                .publish(4096, Duration.ofSeconds(2)).build());
        sluice = Sluice.create(transport, SluiceConfig.of("nats").withPublisher(PublisherOptions.builder()
                .maxRetries(20).retryBackoff(Duration.ofMillis(100)).retryMaxBackoff(Duration.ofSeconds(1)).build()));
    }

    @AfterEach
    void stop() {
        sluice.close();
        server.close();
    }

    @Test
    void shouldNeverLoseAcknowledgedPublishesOrConsumptionAcrossServerRestart() throws Exception {
        String topic = "restart-" + Long.toHexString(System.nanoTime());
        List<NatsTransport.ConnectionState> states = new CopyOnWriteArrayList<>();
        transport.onConnectionState(states::add);
        Map<String, Integer> handled = new ConcurrentHashMap<>();
        sluice.subscribe(topic, "g", m -> handled.merge(m.id(), 1, Integer::sum),
                ConsumerOptions.builder().maxInFlight(200).build());

        int total = 3000;
        List<CompletableFuture<Receipt>> futures = new ArrayList<>();
        AtomicBoolean restarted = new AtomicBoolean();
        List<CompletableFuture<Receipt>> duringOutage = new ArrayList<>();
        for (int i = 0; i < total; i++) {
            CompletableFuture<Receipt> f = sluice.publisher().publish(topic, Message.of("key-" + (i % 50), "m" + i));
            futures.add(f);
            if (i > total / 3 && i <= total / 2) {
                duringOutage.add(f); // made while no server process existed
            }
            if (i == total / 3) {
                server.stop(); // SIGTERM by pid: the server goes away mid-stream
            }
            if (i == total / 2) {
                server.restart(); // same ports, same store
                restarted.set(true);
            }
        }
        assertThat(restarted).isTrue();

        List<String> acknowledged = new ArrayList<>();
        List<Throwable> failed = new ArrayList<>();
        for (CompletableFuture<Receipt> f : futures) {
            try {
                acknowledged.add(f.get(60, TimeUnit.SECONDS).messageId());
            } catch (java.util.concurrent.ExecutionException e) {
                failed.add(e.getCause());
            }
        }
        for (Throwable t : failed) {
            assertThat(t).as("a failed publish says which message and topic, and why")
                    .isInstanceOf(io.sluice.PublishException.class)
                    .hasMessageContaining("publish of message ").hasMessageContaining(" to topic " + topic);
        }
        assertThat(acknowledged.size() + failed.size()).isEqualTo(total);
        assertThat(duringOutage).hasSize(total / 2 - total / 3).allSatisfy(f -> assertThat(f).isDone());
        assertThat(acknowledged.size()).as("most publishes survive a restart through buffer and retries")
                .isGreaterThan(total / 2);

        await().atMost(WAIT).until(() -> handled.keySet().containsAll(acknowledged));
        assertThat(states).contains(NatsTransport.ConnectionState.DISCONNECTED,
                NatsTransport.ConnectionState.RECONNECTED);
        assertThat(transport.connectionState()).isIn(NatsTransport.ConnectionState.CONNECTED,
                NatsTransport.ConnectionState.RECONNECTED);
    }

    /**
     * Issue 9, defect 8: while the server restarts, JetStream answers "503 No Responders" for a while after the
     * connection is back (jnats reports it as a RuntimeException wrapping an IOException). That is not a final
     * failure: with the default publisher settings, every one of 2,000 publishes made across a restart succeeds, and
     * the stream holds each message once (resends go under the same message id).
     */
    @Test
    void shouldSucceedEveryPublishWhenTheServerComesBackWithinThePublishTimeout() throws Exception {
        String topic = "restart-publish-" + Long.toHexString(System.nanoTime());
        try (NatsTransport t = new NatsTransport(NatsTestServer.settings(server.url())
                .reconnect(-1, Duration.ofMillis(100), Duration.ofMillis(50), 16L * 1024 * 1024).build());
             Sluice client = Sluice.create(t, SluiceConfig.of("nats"))) {
            client.publisher().publish(topic, Message.of("k", "creates the stream")).join();
            int total = 2000;
            List<CompletableFuture<Receipt>> futures = new ArrayList<>();
            CompletableFuture<Void> stopped = null;
            for (int i = 0; i < total; i++) {
                futures.add(client.publisher().publish(topic, Message.of("key-" + (i % 50), "m" + i)));
                if (i == 100) {
                    // The server shuts JetStream down before it closes client connections: publishes arriving
                    // meanwhile get "503 No Responders". Keep publishing, spread out, while it goes away.
                    stopped = CompletableFuture.runAsync(server::stop);
                }
                if (i > 100) {
                    java.util.concurrent.locks.LockSupport.parkNanos(200_000);
                }
            }
            stopped.join();
            server.restart();
            List<Throwable> failed = new ArrayList<>();
            Set<Long> offsets = new java.util.HashSet<>();
            for (CompletableFuture<Receipt> f : futures) {
                try {
                    Receipt r = f.get(60, TimeUnit.SECONDS);
                    offsets.add(r.partition() * 1_000_000_000L + r.offset());
                } catch (java.util.concurrent.ExecutionException e) {
                    failed.add(e.getCause());
                }
            }
            assertThat(failed).as("publishes failed across a restart shorter than the publish timeout").isEmpty();
            assertThat(offsets).as("each publish stored at its own stream position").hasSize(total);
            assertThat(t.management().getStreamInfo(Names.stream(topic)).getStreamState().getMsgCount())
                    .as("the first message and each publish once").isEqualTo(total + 1);
        }
    }

    @Test
    void shouldFailPublishesAtOnceWhenTheBoundedReconnectBufferIsFull() throws Exception {
        String topic = "buffer-" + Long.toHexString(System.nanoTime());
        try (NatsTransport tiny = new NatsTransport(NatsTestServer.settings(server.url())
                .reconnect(-1, Duration.ofMillis(100), Duration.ofMillis(50), 4096)
                .publish(4096, Duration.ofSeconds(2)).build())) {
            tiny.producer().send(topic, Message.of("k", "creates the stream").withDefaults(1)).join();
            server.stop();
            await().atMost(WAIT).until(() -> tiny.connectionState() == NatsTransport.ConnectionState.DISCONNECTED);
            byte[] payload = new byte[1024];
            Throwable failure = null;
            for (int i = 0; i < 20 && failure == null; i++) {
                CompletableFuture<Receipt> f = tiny.producer().send(topic,
                        Message.builder().key("k").payload(payload).build().withDefaults(System.currentTimeMillis()));
                if (f.isCompletedExceptionally()) {
                    failure = f.handle((r, e) -> e).join();
                }
            }
            assertThat(failure).as("a publish beyond 4 KiB of buffered data fails at once").isNotNull();
            assertThat(failure).isInstanceOf(io.sluice.spi.TransientTransportException.class)
                    .hasMessageContaining("failed while NATS was unavailable");
            assertThat(tiny.producer().isTransient(failure)).isTrue();
            server.restart();
        }
    }

    /**
     * At most {@code nats.publish.maxPendingAcks} publishes await the server's acknowledgement: with the server down,
     * two fill the bound and a third waits for a slot, proceeding once the others are acknowledged after the restart.
     */
    @Test
    void shouldHoldPublishesBeyondTheBoundOfOutstandingAcksUntilSlotsFree() throws Exception {
        String topic = "slots-" + Long.toHexString(System.nanoTime());
        try (NatsTransport two = new NatsTransport(NatsTestServer.settings(server.url())
                .reconnect(-1, Duration.ofMillis(100), Duration.ofMillis(50), 1024 * 1024)
                .publish(2, Duration.ofSeconds(10)).build())) {
            two.producer().send(topic, Message.of("k", "creates the stream").withDefaults(1)).join();
            server.stop();
            await().atMost(WAIT).until(() -> two.connectionState() == NatsTransport.ConnectionState.DISCONNECTED);
            CompletableFuture<Receipt> a = two.producer().send(topic, Message.of("k", "a").withDefaults(2));
            CompletableFuture<Receipt> b = two.producer().send(topic, Message.of("k", "b").withDefaults(3));
            java.util.concurrent.CountDownLatch thirdStarted = new java.util.concurrent.CountDownLatch(1);
            // Whether the server was running when the third got its slot: only an acknowledgement frees one.
            CompletableFuture<Boolean> slotFreedByAnAck = new CompletableFuture<>();
            CompletableFuture<CompletableFuture<Receipt>> third = CompletableFuture.supplyAsync(() -> {
                thirdStarted.countDown();
                CompletableFuture<Receipt> sent = two.producer().send(topic, Message.of("k", "c").withDefaults(4));
                slotFreedByAnAck.complete(server.isRunning());
                return sent;
            });
            thirdStarted.await();
            // The server is down: nothing can be acknowledged, so no slot can free before the restart.
            assertThat(a).isNotDone();
            assertThat(b).isNotDone();

            server.restart();
            assertThat(a.get(30, TimeUnit.SECONDS).offset()).isEqualTo(2);
            assertThat(b.get(30, TimeUnit.SECONDS).offset()).isEqualTo(3);
            assertThat(third.get(30, TimeUnit.SECONDS).get(30, TimeUnit.SECONDS).offset()).isEqualTo(4);
            assertThat(slotFreedByAnAck.get(30, TimeUnit.SECONDS)).as("the third publish got its slot only once the "
                    + "server was back to acknowledge the first two").isTrue();
        }
    }

    /**
     * A publish the server cannot acknowledge fails after {@code nats.publish.ackTimeout} (jnats' request clean-up
     * runs at that interval instead of its own 5 s default), while the server is still down, with an error that says
     * the stream may have stored it; retried under the same id after the restart it is stored once, whether or not
     * the buffered first attempt reached the server.
     */
    @Test
    void shouldFailAnUnacknowledgedPublishAtTheAckTimeoutAndStoreItsRetryOnce() throws Exception {
        String topic = "acktimeout-" + Long.toHexString(System.nanoTime());
        try (NatsTransport t = new NatsTransport(NatsTestServer.settings(server.url())
                .reconnect(-1, Duration.ofMillis(100), Duration.ofMillis(50), 1024 * 1024)
                .publish(16, Duration.ofMillis(500)).build())) {
            t.producer().send(topic, Message.of("k", "creates the stream").withDefaults(1)).join();
            server.stop();
            await().atMost(WAIT).until(() -> t.connectionState() == NatsTransport.ConnectionState.DISCONNECTED);
            Message m = Message.builder().id("outage-1").key("k").payload("during the outage").build()
                    .withDefaults(System.currentTimeMillis());
            assertThat(t.connection().getOptions().getRequestCleanupInterval()).as("jnats' async publish timeout")
                    .isEqualTo(Duration.ofMillis(500));
            Throwable failure = t.producer().send(topic, m)
                    .handle((r, e) -> e instanceof java.util.concurrent.CompletionException ? e.getCause() : e)
                    .get(10, TimeUnit.SECONDS);
            assertThat(failure).isInstanceOf(io.sluice.spi.TransientTransportException.class)
                    .hasMessageStartingWith("publish of message outage-1 to topic " + topic
                            + " was not acknowledged in time")
                    .hasMessageContaining("a retry with the same id is deduplicated");

            server.restart();
            await().atMost(WAIT).until(() -> t.connectionState() == NatsTransport.ConnectionState.RECONNECTED);
            Receipt retried = t.producer().send(topic, m).get(30, TimeUnit.SECONDS);
            assertThat(retried.messageId()).isEqualTo("outage-1");
            assertThat(t.management().getStreamInfo(Names.stream(topic)).getStreamState().getMsgCount())
                    .as("the first message and the outage message once").isEqualTo(2);
        }
    }

    @Test
    void shouldUseTheConfiguredReconnectSettingsAndLogAndExposeEveryStateChange() throws Exception {
        io.nats.client.Options options = transport.connection().getOptions();
        assertThat(options.getMaxReconnect()).isEqualTo(-1);
        assertThat(options.getReconnectWait()).isEqualTo(Duration.ofMillis(100));
        assertThat(options.getReconnectJitter()).isEqualTo(Duration.ofMillis(50));
        assertThat(options.getReconnectBufferSize()).isEqualTo(16L * 1024 * 1024);
        assertThat(options.getRequestCleanupInterval()).as("jnats' async publish timeout").isEqualTo(Duration.ofSeconds(2));

        List<NatsTransport.ConnectionState> states = new CopyOnWriteArrayList<>();
        transport.onConnectionState(states::add);
        java.util.concurrent.atomic.AtomicInteger disconnectReports = new java.util.concurrent.atomic.AtomicInteger();
        transport.connection().addConnectionListener((c, event) -> {
            if (event == io.nats.client.ConnectionListener.Events.DISCONNECTED) {
                disconnectReports.incrementAndGet();
            }
        });
        String log;
        try (StandardErrorCapture captured = new StandardErrorCapture()) {
            server.stop();
            await().atMost(WAIT).until(() -> transport.connectionState() == NatsTransport.ConnectionState.DISCONNECTED);
            // Several reconnect attempts fail meanwhile; jnats reports each as another DISCONNECTED, which is no
            // change of state and must not be logged or told again.
            await().atMost(WAIT).until(() -> disconnectReports.get() >= 4);
            assertThat(transport.connectionState()).isEqualTo(NatsTransport.ConnectionState.DISCONNECTED);
            server.restart();
            await().atMost(WAIT).until(() -> transport.connectionState() == NatsTransport.ConnectionState.RECONNECTED);
            sluice.close();
            await().atMost(WAIT).until(() -> states.contains(NatsTransport.ConnectionState.CLOSED));
            log = captured.text();
        }
        assertThat(states).containsExactly(NatsTransport.ConnectionState.DISCONNECTED,
                NatsTransport.ConnectionState.RECONNECTED, NatsTransport.ConnectionState.CLOSED);
        assertThat(transport.connectionState()).isEqualTo(NatsTransport.ConnectionState.CLOSED);
        String lost = "WARN io.sluice.nats.NatsTransport - NATS connection lost; reconnecting to [" + server.url()
                + "] (wait 100ms + jitter up to 50ms, max reconnects -1, publishes buffered up to " + 16 * 1024 * 1024
                + " bytes)";
        assertThat(log).contains(lost);
        assertThat(log.split(java.util.regex.Pattern.quote(lost), -1)).as("logged once per outage").hasSize(2);
        assertThat(log).contains("INFO io.sluice.nats.NatsTransport - NATS connection re-established to "
                + server.url());
        assertThat(log).contains("INFO io.sluice.nats.NatsTransport - NATS connection closed");
    }

    /**
     * While disconnected a member sends no pull requests (they would wait in the reconnect buffer and all reach the
     * server at once), and requests from before the outage keep counting until they have surely expired, so after
     * the reconnect the server never holds more of its messages than the in-flight bound.
     */
    @Test
    void shouldNotFetchBeyondTheInFlightBoundAfterAnOutageLongerThanThePullExpiry() throws Exception {
        String topic = "outage-" + Long.toHexString(System.nanoTime());
        // A session far longer than the outage, so the member keeps its partitions throughout.
        try (NatsTransport member = new NatsTransport(NatsTestServer.settings(server.url())
                .group(Duration.ofMillis(200), Duration.ofSeconds(20))
                .reconnect(-1, Duration.ofMillis(100), Duration.ofMillis(50), 16L * 1024 * 1024)
                .publish(4096, Duration.ofSeconds(2)).build());
             Sluice consuming = Sluice.create(member, SluiceConfig.of("nats").withPublisher(PublisherOptions.builder()
                     .maxRetries(20).retryBackoff(Duration.ofMillis(100)).build()))) {
            java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
            Set<String> handled = ConcurrentHashMap.newKeySet();
            io.sluice.Subscription sub = consuming.subscribe(topic, "g", m -> {
                release.await();
                handled.add(m.id());
            }, ConsumerOptions.builder().maxInFlight(10).shutdownTimeout(Duration.ofSeconds(2)).build());
            await().atMost(WAIT).until(() -> sub.assignedPartitions().size() == 3);
            for (int p = 0; p < 3; p++) {
                int partition = p;
                await().atMost(WAIT).until(() -> member.management().getConsumerInfo(Names.stream(topic),
                        Names.durable("g", partition)).getNumWaiting() > 0);
            }

            server.stop();
            await().atMost(WAIT).until(() -> member.connectionState() == NatsTransport.ConnectionState.DISCONNECTED);
            // Several pull expiries (500 ms, plus a grace) pass while the server is down: at least this long, however
            // slow the machine (a delay, not a window).
            await().pollDelay(Duration.ofSeconds(4)).atMost(WAIT)
                    .until(() -> member.connectionState() == NatsTransport.ConnectionState.DISCONNECTED);
            // Published into the reconnect buffer: they reach the server right after anything buffered before.
            List<CompletableFuture<Receipt>> futures = new ArrayList<>();
            for (int i = 0; i < 100; i++) {
                futures.add(consuming.publisher().publish(topic, Message.of("key-" + i, "m" + i)));
            }
            server.restart();
            Set<String> ids = ConcurrentHashMap.newKeySet();
            futures.forEach(f -> ids.add(f.join().messageId()));

            // Handlers are blocked: the engine is full, so the member sends no pulls. Once the engine holds its bound and
            // no pull is left waiting on the server (none from before the outage either), nothing more can arrive:
            // then the server holds exactly the in-flight bound for this member.
            await().atMost(WAIT).until(() -> {
                long pending = 0;
                long waiting = 0;
                for (int p = 0; p < 3; p++) {
                    io.nats.client.api.ConsumerInfo info = member.management().getConsumerInfo(Names.stream(topic),
                            Names.durable("g", p));
                    pending += info.getNumAckPending();
                    waiting += info.getNumWaiting();
                }
                return pending >= 10 && waiting == 0;
            });
            long pending = 0;
            for (int p = 0; p < 3; p++) {
                pending += member.management().getConsumerInfo(Names.stream(topic), Names.durable("g", p))
                        .getNumAckPending();
            }
            assertThat(pending).as("messages the server holds for the member").isEqualTo(10);
            release.countDown();
            await().atMost(WAIT).until(() -> handled.containsAll(ids));
        }
    }

    /** A consumer that cannot join its group (the bucket does not answer) leaves no subscription behind. */
    @Test
    void shouldCloseTheConsumersInboxWhenJoiningTheGroupFails() throws Exception {
        String topic = "nojoin-" + Long.toHexString(System.nanoTime());
        // Creates and remembers the stream, but no group has opened the membership bucket yet.
        sluice.publisher().publish(topic, Message.of("k", "first")).join();
        server.stop();
        await().atMost(WAIT).until(() -> transport.connectionState() == NatsTransport.ConnectionState.DISCONNECTED);
        assertThatThrownBy(() -> sluice.subscribe(topic, "g", m -> { }, ConsumerOptions.defaults()))
                .hasMessageContaining("key-value bucket");
        server.restart();
        await().atMost(WAIT).until(() -> transport.connectionState() == NatsTransport.ConnectionState.RECONNECTED);
        // jnats subscribes again, on reconnecting, to every subscription still open.
        transport.connection().flush(Duration.ofSeconds(5));
        String connections = httpGet("http://127.0.0.1:" + server.monitorPort() + "/connz?subs=1");
        assertThat(connections).contains("\"subscriptions_list\"").doesNotContain("_INBOX.sluice.");
    }

    private static String httpGet(String url) throws Exception {
        java.net.HttpURLConnection c = (java.net.HttpURLConnection) java.net.URI.create(url).toURL().openConnection();
        try (java.io.InputStream in = c.getInputStream()) {
            return new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        } finally {
            c.disconnect();
        }
    }

    @Test
    void shouldResumeConsumingWithoutLossAfterRestartMidConsumption() {
        checkConsumptionAcrossRestart(false);
    }

    @Test
    void shouldResumeConsumingWithoutLossAfterServerKilledMidConsumption() {
        checkConsumptionAcrossRestart(true);
    }

    /**
     * With {@code sigkill}, the server dies without flushing; the messages were acknowledged well before (while the
     * consumer worked through a quarter of them), so the store has written them, as docs/nats.md explains.
     */
    private void checkConsumptionAcrossRestart(boolean sigkill) {
        String topic = "resume-" + Long.toHexString(System.nanoTime());
        int total = 1000;
        List<CompletableFuture<Receipt>> futures = new ArrayList<>();
        for (int i = 0; i < total; i++) {
            futures.add(sluice.publisher().publish(topic, Message.of("key-" + (i % 20), "m" + i)));
        }
        Set<String> ids = ConcurrentHashMap.newKeySet();
        futures.forEach(f -> ids.add(f.join().messageId()));

        Set<String> handled = ConcurrentHashMap.newKeySet();
        java.util.concurrent.CountDownLatch restarted = new java.util.concurrent.CountDownLatch(1);
        // After a quarter, handlers wait for the restart: the server goes down with most of the stream unconsumed,
        // however fast or slow this machine is.
        sluice.subscribe(topic, "g", m -> {
            if (handled.size() >= total / 4) {
                restarted.await();
            }
            handled.add(m.id());
        }, ConsumerOptions.builder().maxInFlight(50).build());
        await().atMost(WAIT).until(() -> handled.size() >= total / 4);
        if (sigkill) {
            server.kill();
        } else {
            server.stop();
        }
        server.restart();
        restarted.countDown();

        await().atMost(WAIT).until(() -> handled.containsAll(ids));
        assertThat(handled).containsAll(ids);
    }
}
