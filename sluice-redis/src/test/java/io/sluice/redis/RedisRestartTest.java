package io.sluice.redis;

import io.sluice.Message;
import io.sluice.Receipt;
import io.sluice.Sluice;
import io.sluice.brokers.redis.RedisServer;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.SluiceConfig;
import org.junit.jupiter.api.AfterEach;
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
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * redis-server restarted mid-run, with the append-only file on ({@code appendfsync always}): every publish Redis
 * acknowledged is handled, per-key order holds among first deliveries, and the subscription resumes by itself.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class RedisRestartTest {
    private static final Duration WAIT = Duration.ofSeconds(90);

    private RedisServer server;
    private Sluice sluice;

    @AfterEach
    void close() {
        if (sluice != null) {
            sluice.close();
        }
        if (server != null) {
            server.close();
        }
    }

    @Test
    void shouldLoseNoAcknowledgedMessageAndResumeWhenTheServerIsKilledAndRestartedMidRun() throws Exception {
        checkRestart(true);
    }

    @Test
    void shouldLoseNoAcknowledgedMessageAndResumeWhenTheServerIsStoppedAndRestartedMidRun() throws Exception {
        checkRestart(false);
    }

    private void checkRestart(boolean kill) throws Exception {
        server = RedisServer.builder().appendOnly("always").start();
        RedisTransport transport = new RedisTransport(RedisTestServer.settings(server)
                .commandTimeout(Duration.ofSeconds(5)).build());
        sluice = Sluice.create(transport, SluiceConfig.of("redis"));
        String topic = "restart";

        Map<String, Integer> handled = new ConcurrentHashMap<>();
        Map<String, List<Integer>> firstSeqByKey = new ConcurrentHashMap<>();
        sluice.subscribe(topic, "g", m -> {
            Thread.sleep(1);
            if (handled.merge(m.id(), 1, Integer::sum) == 1) {
                firstSeqByKey.computeIfAbsent(m.key(), k -> new CopyOnWriteArrayList<>())
                        .add(Integer.parseInt(m.header("seq")));
            }
        }, ConsumerOptions.builder().maxInFlight(64).shutdownTimeout(Duration.ofSeconds(5)).build());

        // A publisher that keeps going across the restart; only acknowledged publishes count.
        Set<String> acknowledged = ConcurrentHashMap.newKeySet();
        AtomicBoolean publishing = new AtomicBoolean(true);
        AtomicInteger failed = new AtomicInteger();
        Thread publisher = Thread.ofPlatform().start(() -> {
            int seq = 0;
            List<CompletableFuture<Receipt>> window = new ArrayList<>();
            while (publishing.get()) {
                for (int k = 0; k < 10; k++) {
                    Message m = Message.builder().key("key-" + k).header("seq", Integer.toString(seq))
                            .payload("v" + seq).build();
                    window.add(sluice.publisher().publish(topic, m));
                }
                seq++;
                for (CompletableFuture<Receipt> f : window) {
                    try {
                        acknowledged.add(f.join().messageId());
                    } catch (RuntimeException e) {
                        failed.incrementAndGet(); // not acknowledged: may or may not be stored
                    }
                }
                window.clear();
            }
        });
        try {
            await().atMost(WAIT).until(() -> handled.size() >= 300);
            if (kill) {
                server.kill();
            } else {
                server.stop();
            }
            server.restart();
            int acknowledgedAtRestart = acknowledged.size();
            await().atMost(WAIT).until(() -> acknowledged.size() >= acknowledgedAtRestart + 300);
        } finally {
            publishing.set(false);
            publisher.join();
        }

        await().atMost(WAIT).until(() -> handled.keySet().containsAll(acknowledged));
        assertThat(acknowledged).as("acknowledged publishes, all handled").isNotEmpty();
        firstSeqByKey.values().forEach(seqs -> assertThat(seqs).as("per-key order of first deliveries").isSorted());
    }
}
