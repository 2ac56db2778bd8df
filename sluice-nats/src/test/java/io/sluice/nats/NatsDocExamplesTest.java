package io.sluice.nats;

import io.sluice.DeadLetterException;
import io.sluice.DeadLetters;
import io.sluice.Message;
import io.sluice.Receipt;
import io.sluice.RetryLaterException;
import io.sluice.Sluice;
import io.sluice.brokers.nats.NatsServer;
import io.nats.client.api.StreamConfiguration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Runs the examples of docs/nats.md, as written there, against a nats-server of its own: the YAML is the page's with
 * the server's URL filled in, the Java is the page's with assertions added. If this class changes, change the page.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class NatsDocExamplesTest {
    private static final Duration WAIT = Duration.ofSeconds(30);
    private static NatsServer server;

    @TempDir
    Path dir;

    @BeforeAll
    static void startServer() {
        server = NatsServer.start();
    }

    @AfterAll
    static void stopServer() {
        server.close();
    }

    /** Writes {@code yaml} as sluice.yaml, with the page's {@code nats://127.0.0.1:4222} replaced by the server's URL. */
    private Path sluiceYaml(String yaml) throws IOException {
        Path file = dir.resolve("sluice.yaml");
        Files.writeString(file, yaml.replace("nats://127.0.0.1:4222", server.url()));
        return file;
    }

    @Test
    void jetStreamQuickStart() throws Exception {
        Path yaml = sluiceYaml("""
                transport: nats
                nats:
                  servers: [nats://127.0.0.1:4222]
                  stream: {partitions: 3}
                consumer:
                  maxInFlight: 1000
                """);
        List<String> billed = new CopyOnWriteArrayList<>();
        // --- docs/nats.md "Quick start"
        try (Sluice sluice = Sluice.fromYaml(yaml)) {
            sluice.subscribe("orders", "billing", message -> billed.add(message.key() + " " + message.payloadAsString()));
            Receipt r = sluice.publisher().publish("orders", Message.of("customer-42", "{\"total\": 12}")).join();
            // r.partition() is the partition subject orders.<n>, r.offset() the JetStream stream sequence
            // ---
            assertThat(r.offset()).isEqualTo(1);
            await().atMost(WAIT).until(() -> billed.contains("customer-42 {\"total\": 12}"));
        }
    }

    @Test
    void streamSettings() throws Exception {
        Path yaml = sluiceYaml("""
                transport: nats
                nats:
                  servers: [nats://127.0.0.1:4222]
                  stream:
                    partitions: 6
                    storage: file
                    retention: limits
                    maxAge: 7d
                    maxBytes: 1GiB
                    duplicateWindow: 5m
                """);
        try (Sluice sluice = Sluice.fromYaml(yaml)) {
            sluice.publisher().publish("payments", Message.of("card-7", "authorised")).join();
            NatsTransport nats = (NatsTransport) sluice.transport();
            StreamConfiguration stream = nats.connection().jetStreamManagement().getStreamInfo("sluice_payments")
                    .getConfiguration();
            assertThat(stream.getSubjects()).hasSize(6).contains("payments.0", "payments.5");
            assertThat(stream.getMaxAge()).isEqualTo(Duration.ofDays(7));
            assertThat(stream.getMaxBytes()).isEqualTo(1L << 30);
            assertThat(stream.getDuplicateWindow()).isEqualTo(Duration.ofMinutes(5));
        }
    }

    @Test
    void retriesOnTheServerAndDeadLetters() throws Exception {
        Path yaml = sluiceYaml("""
                transport: nats
                nats:
                  servers: [nats://127.0.0.1:4222]
                consumer:
                  retry:
                    maxAttempts: 3
                    nativeDelayThreshold: 100ms
                """);
        List<Message> letters = new CopyOnWriteArrayList<>();
        // --- docs/nats.md "Retries and dead letters"
        try (Sluice sluice = Sluice.fromYaml(yaml)) {
            sluice.subscribe("shipments.dlq", "ops", letters::add);
            sluice.subscribe("shipments", "shipping", message -> {
                if (message.payloadAsString().isBlank()) {
                    throw new DeadLetterException("empty shipment"); // dead-lettered at once
                }
                // 200 ms >= nativeDelayThreshold: the message goes back to the server as -NAK {"delay": 200ms}
                throw new RetryLaterException(Duration.ofMillis(200), "carrier API busy");
            });
            sluice.publisher().publish("shipments", Message.of("parcel-1", "to Lyon")).join();
            sluice.publisher().publish("shipments", Message.of("parcel-2", " ")).join();
            // ---
            await().atMost(WAIT).until(() -> letters.size() == 2);
        }
        assertThat(letters).extracting(m -> m.header(DeadLetters.REASON))
                .containsExactlyInAnyOrder(DeadLetters.REASON_RETRIES_EXHAUSTED, DeadLetters.REASON_REJECTED);
        Message exhausted = letters.stream().filter(m -> m.key().equals("parcel-1")).findFirst().orElseThrow();
        assertThat(exhausted.header(DeadLetters.ATTEMPTS)).isEqualTo("3");
        assertThat(exhausted.header(DeadLetters.ERROR_MESSAGE)).isEqualTo("carrier API busy");
    }

    @Test
    void deduplicationByMessageId() throws Exception {
        Path yaml = sluiceYaml("""
                transport: nats
                nats:
                  servers: [nats://127.0.0.1:4222]
                """);
        // --- docs/nats.md "Publishing"
        try (Sluice sluice = Sluice.fromYaml(yaml)) {
            Message created = Message.builder().id("order-42-created").key("order-42").payload("created").build();
            Receipt first = sluice.publisher().publish("order-events", created).join();
            Receipt again = sluice.publisher().publish("order-events", created).join(); // e.g. a retry after a crash
            // again.offset() == first.offset(): the stream stored the message once
            // ---
            assertThat(again.offset()).isEqualTo(first.offset());
            NatsTransport nats = (NatsTransport) sluice.transport();
            assertThat(nats.connection().jetStreamManagement().getStreamInfo("sluice_order-events").getStreamState()
                    .getMsgCount()).isEqualTo(1);
        }
    }

    @Test
    void coreWildcardsQueueGroupsAndRequestReply() throws Exception {
        Path yaml = sluiceYaml("""
                transport: nats
                nats:
                  servers: [nats://127.0.0.1:4222]
                  mode: core
                """);
        List<String> audited = new CopyOnWriteArrayList<>();
        List<String> archived = new CopyOnWriteArrayList<>();
        // --- docs/nats.md "Core mode"
        try (Sluice sluice = Sluice.fromYaml(yaml)) {
            // queue group "audit": each message on orders.<one token> goes to one member of the group
            sluice.subscribe("orders.*", "audit", m -> audited.add(m.payloadAsString()));
            sluice.subscribe("orders.*", "audit", m -> audited.add(m.payloadAsString()));
            // another group gets its own copy; '>' matches one or more tokens
            sluice.subscribe("orders.>", "archive", m -> archived.add(m.payloadAsString()));
            sluice.publisher().publish("orders.eu", Message.of("customer-42", "created")).join();
            sluice.publisher().publish("orders.eu.paris", Message.of("customer-43", "created in Paris")).join();

            NatsRequests requests = NatsRequests.of(sluice);
            try (NatsRequests.Responder prices = requests.respond("svc.price", "pricers",
                    req -> Message.of(req.key(), "12.50"))) {
                Message reply = requests.request("svc.price", Message.of("sku-1", "?"), Duration.ofSeconds(2)).join();
                // ---
                assertThat(reply.payloadAsString()).isEqualTo("12.50");
                assertThat(reply.key()).isEqualTo("sku-1");
            }
            await().atMost(WAIT).until(() -> archived.size() == 2);
            await().atMost(WAIT).until(() -> audited.size() == 1);
            assertThat(audited).containsExactly("created");
        }
    }

    @Test
    void reconnectSettingsAndConnectionState() throws Exception {
        Path yaml = sluiceYaml("""
                transport: nats
                nats:
                  servers: [nats://127.0.0.1:4222]
                  reconnect: {maxReconnects: -1, wait: 250ms, jitter: 100ms, bufferSize: 8MiB}
                  publish: {maxPendingAcks: 4096, ackTimeout: 5s}
                """);
        List<NatsTransport.ConnectionState> seen = new CopyOnWriteArrayList<>();
        // --- docs/nats.md "Reconnect"
        try (Sluice sluice = Sluice.fromYaml(yaml)) {
            NatsTransport nats = (NatsTransport) sluice.transport();
            nats.onConnectionState(state -> seen.add(state)); // DISCONNECTED, RECONNECTED, CLOSED
            NatsTransport.ConnectionState now = nats.connectionState(); // CONNECTED
            // ---
            assertThat(now).isEqualTo(NatsTransport.ConnectionState.CONNECTED);
            sluice.publisher().publish("sensor-readings", Message.of("s-1", "20.9C")).join();
            server.stop();
            await().atMost(WAIT).until(() -> seen.contains(NatsTransport.ConnectionState.DISCONNECTED));
            java.util.concurrent.CompletableFuture<Receipt> duringOutage = sluice.publisher()
                    .publish("sensor-readings", Message.of("s-1", "21.5C"));
            assertThat(duringOutage).as("not confirmed while the server is away").isNotDone();
            server.restart();
            assertThat(duringOutage.get(30, TimeUnit.SECONDS).offset()).as("acknowledged after the reconnect")
                    .isEqualTo(2);
        }
        assertThat(seen).containsExactly(NatsTransport.ConnectionState.DISCONNECTED,
                NatsTransport.ConnectionState.RECONNECTED, NatsTransport.ConnectionState.CLOSED);
    }
}
