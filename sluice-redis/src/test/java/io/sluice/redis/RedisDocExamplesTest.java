package io.sluice.redis;

import io.sluice.Message;
import io.sluice.Receipt;
import io.sluice.Sluice;
import io.sluice.Subscription;
import io.sluice.brokers.redis.RedisServer;
import io.sluice.config.ConfigException;
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
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * Runs the examples of docs/redis.md, as written there, against a redis-server of its own (append-only file on,
 * {@code appendfsync always}, as the page recommends): the YAML is the page's with the server's port filled in, the
 * Java is the page's with assertions added. If this class changes, change the page.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class RedisDocExamplesTest {
    private static final Duration WAIT = Duration.ofSeconds(30);
    private static RedisServer server;

    @TempDir
    Path dir;

    @BeforeAll
    static void startServer() {
        server = RedisServer.builder().appendOnly("always").start();
    }

    @AfterAll
    static void stopServer() {
        server.close();
    }

    /** Writes {@code yaml} as a file, with the page's {@code redis://127.0.0.1:6379} replaced by the server's URI. */
    private Path sluiceYaml(String name, String yaml) throws IOException {
        Path file = dir.resolve(name);
        Files.writeString(file, yaml.replace("redis://127.0.0.1:6379", server.uri()));
        return file;
    }

    @Test
    void quickStart() throws Exception {
        Path yaml = sluiceYaml("sluice.yaml", """
                transport: redis
                redis:
                  uri: redis://127.0.0.1:6379/0
                  partitions: 4
                consumer:
                  maxInFlight: 1000
                """);
        List<String> billed = new CopyOnWriteArrayList<>();
        // --- docs/redis.md "Quick start"
        try (Sluice sluice = Sluice.fromYaml(yaml)) {
            sluice.subscribe("orders", "billing", message -> billed.add(message.key() + " " + message.payloadAsString()));
            Receipt r = sluice.publisher().publish("orders", Message.of("customer-42", "{\"total\": 12}")).join();
            // r.partition() is the stream sluice:orders:<partition>; r.offset() encodes the entry id <ms>-<seq>
            // ---
            assertThat(r.partition()).isBetween(0, 3);
            assertThat(r.offset()).isPositive();
            await().atMost(WAIT).until(() -> billed.contains("customer-42 {\"total\": 12}"));
        }
    }

    @Test
    void groupAcrossProcesses() throws Exception {
        Path yaml = sluiceYaml("group.yaml", """
                transport: redis
                redis:
                  uri: redis://127.0.0.1:6379/0
                  partitions: 4
                  sessionTimeout: 3s       # a member silent this long is gone; its leases expire
                  heartbeatInterval: 200ms
                  claimIdle: 1s            # its unacknowledged messages are claimed once idle this long
                """);
        Map<String, Set<Integer>> handledBy = new ConcurrentHashMap<>();
        // --- docs/redis.md "Consumer groups across processes"
        // Two processes (here: two clients) in group "shipping" split the 4 partition streams between them.
        try (Sluice first = Sluice.fromYaml(yaml); Sluice second = Sluice.fromYaml(yaml)) {
            Subscription a = first.subscribe("parcels", "shipping",
                    m -> handledBy.computeIfAbsent("first", k -> ConcurrentHashMap.newKeySet()).add(partitionOf(m)));
            Subscription b = second.subscribe("parcels", "shipping",
                    m -> handledBy.computeIfAbsent("second", k -> ConcurrentHashMap.newKeySet()).add(partitionOf(m)));
            await().atMost(WAIT).until(() -> a.assignedPartitions().size() == 2 && b.assignedPartitions().size() == 2);
            for (int i = 0; i < 100; i++) {
                first.publisher().publish("parcels", Message.of("parcel-" + i, "label " + i)).join();
            }
            // ---
            await().atMost(WAIT).until(() -> handledBy.values().stream().mapToInt(Set::size).sum() == 4);
            assertThat(handledBy.get("first")).doesNotContainAnyElementsOf(handledBy.get("second"));
        }
    }

    @Test
    void delayQueue() throws Exception {
        Path yaml = sluiceYaml("delay.yaml", """
                transport: redis
                redis:
                  uri: redis://127.0.0.1:6379/0
                consumer:
                  retry:
                    nativeDelayThreshold: 5s   # retry delays of 5 s or more wait in Redis, not in memory
                """);
        List<String> charged = new CopyOnWriteArrayList<>();
        java.util.concurrent.atomic.AtomicBoolean gatewayDown = new java.util.concurrent.atomic.AtomicBoolean(true);
        // --- docs/redis.md "Delay queue"
        try (Sluice sluice = Sluice.fromYaml(yaml)) {
            sluice.subscribe("payments", "charge", m -> {
                if (gatewayDown.getAndSet(false)) {
                    throw new io.sluice.RetryLaterException(Duration.ofSeconds(5), "payment gateway down");
                }
                charged.add(m.payloadAsString());
            });
            sluice.publisher().publish("payments", Message.of("order-7", "12.00 EUR")).join();
            // ---
            await().atMost(WAIT).until(() -> charged.contains("12.00 EUR"));
        }
    }

    @Test
    void durableDeduplication() throws Exception {
        RedisSettings redisSettings = RedisSettings.builder().uri(server.uri()).build();
        List<String> mails = new CopyOnWriteArrayList<>();
        try (Sluice sluice = Sluice.create(io.sluice.config.SluiceConfig.of("memory"))) {
            // --- docs/redis.md "Durable deduplication"
            RedisDeduplicate dedup = RedisDeduplicate.handledWithin(redisSettings, "welcome-mail", Duration.ofDays(1));
            sluice.subscribe("signups", "welcome-mail", m -> mails.add(m.id()),
                    io.sluice.config.ConsumerOptions.builder().middleware(dedup).build());
            // ---
            Message signup = Message.builder().id("signup-" + System.nanoTime()).key("ada").payload("a").build();
            sluice.publisher().publish("signups", signup).join();
            sluice.publisher().publish("signups", signup).join();
            sluice.publisher().publish("signups", Message.builder().id("end").key("ada").payload("b").build()).join();
            await().atMost(WAIT).until(() -> mails.contains("end"));
            assertThat(mails).containsExactly(signup.id(), "end");
            sluice.close();
            dedup.close();
        }
    }

    /** The partition of a message of the example, by its key (the mapping every transport uses). */
    private static int partitionOf(Message m) {
        return new io.sluice.spi.support.KeyPartitioner(4).partitionFor(m);
    }

    @Test
    void invalidSettingsFailNamingKeyAndValue() throws Exception {
        Path yaml = sluiceYaml("bad.yaml", """
                transport: redis
                redis:
                  uri: redis://127.0.0.1:6379/0
                  sessionTimeout: 1s
                  heartbeatInterval: 800ms
                """);
        assertThatThrownBy(() -> Sluice.fromYaml(yaml).close())
                .isInstanceOf(ConfigException.class)
                .hasMessage("Invalid value '800ms' for configuration redis.heartbeatInterval: must be at most half of "
                        + "redis.sessionTimeout (1s), so one lost heartbeat does not end a membership");
    }
}
