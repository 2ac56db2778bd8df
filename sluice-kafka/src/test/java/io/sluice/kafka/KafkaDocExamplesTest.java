package io.sluice.kafka;

import io.sluice.Message;
import io.sluice.PublishException;
import io.sluice.Receipt;
import io.sluice.RetryLaterException;
import io.sluice.Sluice;
import io.sluice.Subscription;
import io.sluice.brokers.kafka.KafkaBroker;
import io.sluice.config.ConfigException;
import io.sluice.config.SluiceConfig;
import org.apache.kafka.clients.admin.NewTopic;
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
import java.util.Map;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * Runs the examples of docs/kafka.md, as written there, against a broker of its own started as the page's "no broker
 * at hand" example starts one: the YAML is the page's with the broker's address filled in, the Java is the page's
 * (between {@code // --- docs/kafka.md} and {@code // ---}) with printing replaced by collecting and assertions
 * added. The security examples run in {@link KafkaSecurityTest}, against its TLS and SASL broker. If this class
 * changes, change the page.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class KafkaDocExamplesTest {
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static KafkaBroker broker;

    @TempDir
    Path dir;

    @BeforeAll
    static void startBroker() {
        broker = KafkaBroker.start();
    }

    @AfterAll
    static void stopBroker() {
        if (broker != null) {
            broker.close();
        }
    }

    /** Writes {@code yaml} as sluice.yaml, with the page's {@code 127.0.0.1:9092} replaced by the broker's address. */
    private Path sluiceYaml(String yaml) throws IOException {
        Path file = dir.resolve("sluice.yaml");
        Files.writeString(file, yaml.replace("127.0.0.1:9092", broker.bootstrapServers()));
        return file;
    }

    @Test
    void quickStart() throws Exception {
        Path yaml = sluiceYaml("""
                transport: kafka            # was: log
                kafka:
                  bootstrapServers: 127.0.0.1:9092
                log:                        # may stay in the file; unused while transport is kafka
                  dir: ./sluice-data
                """);
        List<String> printed = new CopyOnWriteArrayList<>();
        // --- docs/kafka.md "Quick start"
        try (Sluice sluice = Sluice.fromYaml(yaml)) {
            sluice.subscribe("orders", "billing", m -> printed.add("billing " + m.key() + ": " + m.payloadAsString()));
            Receipt r = sluice.publisher().publish("orders", Message.of("customer-42", "{\"total\": 12}")).join();
            printed.add("stored in partition " + r.partition() + " at offset " + r.offset());
            // ---
            await().atMost(WAIT).until(() -> printed.contains("billing customer-42: {\"total\": 12}"));
        }
        assertThat(printed).anyMatch(line -> line.matches("stored in partition [0-2] at offset \\d+"));
    }

    @Test
    void quickStartWithTheFixtureBroker() {
        List<String> seen;
        // --- docs/kafka.md "No broker at hand" (the broker is this class's, started by KafkaBroker.start())
        try (Sluice sluice = Sluice.create(SluiceConfig.of("kafka")
                     .withTransport("kafka", Map.of("bootstrapServers", broker.bootstrapServers())))) {
            List<String> billed = new CopyOnWriteArrayList<>();
            sluice.subscribe("orders", "billing", m -> billed.add(m.key() + " " + m.payloadAsString()));
            sluice.publisher().publish("orders", Message.of("customer-42", "{\"total\": 12}")).join();
            // billed soon holds "customer-42 {"total": 12}"
            // ---
            await().atMost(WAIT).until(() -> billed.contains("customer-42 {\"total\": 12}"));
            seen = billed;
        }
        assertThat(seen).allMatch(line -> line.equals("customer-42 {\"total\": 12}"));
    }

    /** The fixture restarts its broker on the same port with the same data; the clients reconnect by themselves. */
    @Test
    void shouldPublishAndConsumeAcrossABrokerRestart() {
        // --- docs/kafka.md "Testing against a real broker" (the broker is this class's, started by KafkaBroker.start())
        try (Sluice sluice = Sluice.create(SluiceConfig.of("kafka")
                     .withTransport("kafka", Map.of("bootstrapServers", broker.bootstrapServers())))) {
            List<String> got = new CopyOnWriteArrayList<>();
            sluice.subscribe("restarts", "watcher", m -> got.add(m.payloadAsString()));
            sluice.publisher().publish("restarts", Message.of("k", "before-restart")).join();
            await().atMost(Duration.ofSeconds(60)).until(() -> got.contains("before-restart"));

            broker.restart(); // stop (SIGTERM) and start again: same port, same data

            sluice.publisher().publish("restarts", Message.of("k", "after-restart")).join();
            await().atMost(Duration.ofSeconds(60)).until(() -> got.contains("after-restart"));
            // ---
            assertThat(got).containsExactly("before-restart", "after-restart");
        }
    }

    @Test
    void batchingCompressionAndRawProperties() throws Exception {
        Path yaml = sluiceYaml("""
                transport: kafka
                kafka:
                  bootstrapServers: 127.0.0.1:9092
                  linger: 20ms
                  batchSize: 128KiB
                  compression: lz4
                  producerProperties:
                    buffer.memory: 67108864
                  consumerProperties:
                    max.poll.records: 200
                    fetch.max.wait.ms: 100
                """);
        List<String> clicks = new CopyOnWriteArrayList<>();
        // --- docs/kafka.md "Settings"
        try (Sluice sluice = Sluice.fromYaml(yaml)) {
            KafkaSettings kafka = ((KafkaTransport) sluice.transport()).settings();
            // kafka.linger() is 20ms, kafka.batchSize() 131072, kafka.compression() LZ4
            sluice.subscribe("clicks", "stats", m -> clicks.add(m.payloadAsString()));
            sluice.publisher().publish("clicks", Message.of("page-7", "click")).join();
            // ---
            assertThat(kafka.linger()).isEqualTo(Duration.ofMillis(20));
            assertThat(kafka.batchSize()).isEqualTo(131072);
            assertThat(kafka.compression()).isEqualTo(KafkaSettings.Compression.LZ4);
            assertThat(kafka.producer("p")).containsEntry("compression.type", "lz4")
                    .containsEntry("buffer.memory", "67108864");
            assertThat(kafka.consumer("c", "g", false)).containsEntry("max.poll.records", "200")
                    .containsEntry("fetch.max.wait.ms", "100");
            await().atMost(WAIT).until(() -> clicks.contains("click"));
        }

        // --- docs/kafka.md "Settings": a bad value fails when the transport is created
        SluiceConfig bad = SluiceConfig.parse("""
                transport: kafka
                kafka: {bootstrapServers: 127.0.0.1:9092, compression: brotli}
                """, "sluice.yaml");
        // ---
        assertThatThrownBy(() -> Sluice.create(bad)).isInstanceOf(ConfigException.class)
                .hasMessage("Invalid value 'brotli' for configuration kafka.compression: must be one of none, gzip, "
                        + "snappy, lz4, zstd");
    }

    @Test
    void receiptsAndTheSizeLimit() throws Exception {
        Path yaml = sluiceYaml("""
                transport: kafka
                kafka:
                  bootstrapServers: 127.0.0.1:9092
                publisher:
                  maxRetries: 3
                """);
        try (Sluice sluice = Sluice.fromYaml(yaml)) {
            Receipt r;
            PublishException tooLarge = null;
            // --- docs/kafka.md "Publishing"
            r = sluice.publisher().publish("payments", Message.of("customer-42", "{\"total\": 12}")).join();
            // r.partition() and r.offset(): where the record is stored; r.messageId(): its sluice-id header
            try {
                Message huge = Message.builder().key("customer-42").payload(new byte[2 * 1024 * 1024]).build();
                sluice.publisher().publish("payments", huge).join();
            } catch (CompletionException e) {
                tooLarge = (PublishException) e.getCause(); // not retried: it cannot succeed
            }
            // ---
            assertThat(r.topic()).isEqualTo("payments");
            assertThat(r.offset()).isGreaterThanOrEqualTo(0);
            assertThat(tooLarge).isNotNull();
            assertThat(tooLarge.getMessage()).startsWith("publish of message ")
                    .contains(" to Kafka topic payments failed: the record (2097163 bytes of key and payload, plus "
                            + "headers) is larger than the broker or producer accepts (")
                    .endsWith("). Raise the topic's max.message.bytes and kafka.maxRequestSize (now 1048576), or "
                            + "send smaller messages");
        }
    }

    @Test
    void pauseResumeAndLag() throws Exception {
        Path yaml = sluiceYaml("""
                transport: kafka
                kafka:
                  bootstrapServers: 127.0.0.1:9092
                """);
        try (Sluice sluice = Sluice.fromYaml(yaml)) {
            ((KafkaTransport) sluice.transport()).admin().createTopics(List.of(new NewTopic("page-views", 3,
                    (short) 1))).all().get(60, TimeUnit.SECONDS);
            List<String> views = new CopyOnWriteArrayList<>();
            // --- docs/kafka.md "Consuming": pause and lag
            Subscription reports = sluice.subscribe("page-views", "reports", m -> views.add(m.payloadAsString()));
            // ---
            await().atMost(WAIT).until(() -> reports.lag().size() == 3); // joined, each partition fetched once
            // --- docs/kafka.md "Consuming": pause and lag
            reports.pause();                        // stops fetching; the member stays in the group
            // ... while paused, what is published waits on the broker:
            // ---
            // A poll under way when pause() was called may still hand records over: see it out with a probe.
            sluice.publisher().publish("page-views", Message.of("probe", "probe")).join();
            await().atMost(WAIT).until(() -> views.contains("probe") || lagTotal(reports) == 1);
            int before = views.size();
            for (int i = 0; i < 30; i++) {
                sluice.publisher().publish("page-views", Message.of("page-" + i, "view-" + i)).join();
            }
            int probeWaiting = views.contains("probe") ? 0 : 1;
            // --- docs/kafka.md "Consuming": pause and lag
            Map<Integer, Long> lag = reports.lag(); // per partition: published, not yet fetched by this member
            // ---
            await().atMost(WAIT).until(() -> lagTotal(reports) == 30 + probeWaiting);
            assertThat(reports.lag().keySet()).containsExactlyInAnyOrder(0, 1, 2);
            assertThat(lag.keySet()).containsExactlyInAnyOrder(0, 1, 2);
            assertThat(views).as("handled while paused").hasSize(before);
            // --- docs/kafka.md "Consuming": pause and lag
            reports.resume();
            // ---
            await().atMost(WAIT).until(() -> views.size() == 31);
            await().atMost(WAIT).until(() -> lagTotal(reports) == 0);
        }
    }

    private static long lagTotal(Subscription s) {
        return s.lag().values().stream().mapToLong(Long::longValue).sum();
    }

    @Test
    void delayTiers() throws Exception {
        Path yaml = sluiceYaml("""
                transport: kafka
                kafka:
                  bootstrapServers: 127.0.0.1:9092
                  delayTiers: [1s, 1m, 10m]
                consumer:
                  retry:
                    maxAttempts: 6
                    initialDelay: 1s
                    maxDelay: 10m
                    nativeDelayThreshold: 1s     # a retry delay of 1 s or more goes through a tier topic
                """);
        MailServer mailServer = new MailServer();
        // --- docs/kafka.md "Delay tiers"
        try (Sluice sluice = Sluice.fromYaml(yaml)) {
            sluice.subscribe("emails", "mailer", m -> {
                if (!mailServer.isUp()) {
                    throw new RetryLaterException(Duration.ofSeconds(1), "mail server down"); // via emails.retry.1s
                }
                mailServer.send(m.key(), m.payloadAsString(), m.header("template"));
            });
            sluice.publisher().publish("emails", Message.builder().key("customer-42").payload("welcome")
                    .header("template", "v2").build()).join();
            // ---
            await().atMost(WAIT).until(() -> mailServer.sent.contains("customer-42: welcome v2"));
            assertThat(((KafkaTransport) sluice.transport()).admin().listTopics().names().get(60, TimeUnit.SECONDS))
                    .contains("emails.retry.1s", "emails.retry.1m", "emails.retry.10m");
        }
        assertThat(mailServer.asked.get()).isEqualTo(2);
    }

    /** Stands in for the page's mail server: down the first time it is asked. */
    private static final class MailServer {
        final AtomicInteger asked = new AtomicInteger();
        final List<String> sent = new CopyOnWriteArrayList<>();

        boolean isUp() {
            return asked.incrementAndGet() > 1;
        }

        void send(String to, String body, String template) {
            sent.add(to + ": " + body + " " + template);
        }
    }

    @Test
    void exactlyOnceProcessor() throws Exception {
        List<String> invoices = new CopyOnWriteArrayList<>();
        try (Sluice sluice = Sluice.create(SluiceConfig.of("kafka")
                .withTransport("kafka", Map.of("bootstrapServers", broker.bootstrapServers())))) {
            sluice.publisher().publish("orders", Message.of("customer-42", "{\"total\": 12}")).join();
            String bootstrapServers = broker.bootstrapServers();
            // --- docs/kafka.md "Transactions"
            KafkaSettings kafka = KafkaSettings.of(bootstrapServers);
            try (ExactlyOnceProcessor invoicer = ExactlyOnceProcessor.builder(kafka)
                    .input("orders").group("invoicer").transactionalId("invoicer-1")
                    .transform((order, out) -> out.send("invoices",
                            Message.of(order.key(), "invoice for " + order.payloadAsString())))
                    .start()) {
                // runs on its own thread until closed; subscriptions see committed output only
                sluice.subscribe("invoices", "mailer", invoice -> invoices.add(invoice.payloadAsString()));
                // ---
                await().atMost(WAIT).until(() -> invoices.contains("invoice for {\"total\": 12}"));
                assertThat(invoicer.committedTransactions()).isPositive();
                assertThat(invoicer.failure()).isNull();
            }
        }
        // Other examples of this class publish the same order to the same topic.
        assertThat(invoices).allMatch(invoice -> invoice.equals("invoice for {\"total\": 12}"));
    }
}
