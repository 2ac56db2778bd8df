package io.sluice.redis;

import io.sluice.Message;
import io.sluice.Sluice;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.SluiceConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** The in-flight room maps to {@code XREADGROUP COUNT}: nothing is fetched from Redis beyond it. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class RedisFlowControlTest {
    private static final Duration WAIT = Duration.ofSeconds(60);

    @Test
    void shouldFetchNoMoreThanTheInFlightRoomWhileHandlersAreBusy() throws Exception {
        RedisTransport transport = new RedisTransport(RedisTestServer.settings(RedisTestServer.get()).build());
        String topic = "flow-" + System.nanoTime();
        CountDownLatch release = new CountDownLatch(1);
        AtomicInteger started = new AtomicInteger();
        AtomicInteger finished = new AtomicInteger();
        try (Sluice sluice = Sluice.create(transport, SluiceConfig.of("redis"))) {
            for (int i = 0; i < 200; i++) {
                sluice.publisher().publish(topic, Message.of("key-" + i, "v" + i)).join();
            }
            io.sluice.Subscription sub = sluice.subscribe(topic, "g", m -> {
                started.incrementAndGet();
                release.await();
                finished.incrementAndGet();
            }, ConsumerOptions.builder().maxInFlight(10).build());

            await().atMost(WAIT).until(() -> started.get() == 10);
            // Every handler is busy: the room is 0, so the member polls with COUNT 0 and reads nothing more. What
            // Redis delivered to the group (pending) is exactly what is in flight.
            await().atMost(WAIT).until(() -> pending(transport, topic) == 10);
            assertThat(started.get()).isEqualTo(10);
            assertThat(pending(transport, topic)).as("fetched beyond the in-flight room").isEqualTo(10);
            // The rest is lag: published, not yet delivered to the group (XINFO GROUPS, refreshed in the background).
            await().atMost(WAIT).until(() -> sub.lag().values().stream().mapToLong(Long::longValue).sum() == 190);

            release.countDown();
            await().atMost(WAIT).until(() -> finished.get() == 200);
            await().atMost(WAIT).until(() -> pending(transport, topic) == 0);
        }
    }

    private static long pending(RedisTransport t, String topic) throws Exception {
        long n = 0;
        for (String stream : t.names().streams(topic)) {
            n += t.commands().xpending(stream, "g").get().getCount();
        }
        return n;
    }
}
