package io.sluice.redis;

import io.sluice.Message;
import io.sluice.config.StartPosition;
import io.sluice.spi.ConsumerSpec;
import io.sluice.spi.PartitionListener;
import io.sluice.spi.TransportConsumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** Retention by {@code MAXLEN ~} and {@code MINID ~}, and what docs/redis.md warns of: trimming removes unread entries. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class RedisRetentionTest {
    private static final Duration WAIT = Duration.ofSeconds(60);

    private static TransportConsumer consumer(RedisTransport t, String topic) {
        return t.consumer(new ConsumerSpec(topic, "g", "m", StartPosition.EARLIEST), new PartitionListener() {
            @Override
            public void assigned(Collection<Integer> partitions) {
            }

            @Override
            public void revoked(Collection<Integer> partitions) {
            }

            @Override
            public void lost(Collection<Integer> partitions) {
            }
        });
    }

    private static long length(RedisTransport t, String topic) throws Exception {
        long n = 0;
        for (String stream : t.names().streams(topic)) {
            n += t.commands().xlen(stream).get();
        }
        return n;
    }

    @Test
    void shouldTrimToAboutMaxLenAndRemoveEntriesTheGroupHadNotRead() throws Exception {
        String topic = "maxlen-" + System.nanoTime();
        try (RedisTransport t = new RedisTransport(RedisTestServer.settings(RedisTestServer.get()).partitions(1)
                .maxLen(100).build())) {
            TransportConsumer c = consumer(t, topic); // the group exists before anything is published
            for (int i = 0; i < 1000; i++) {
                t.producer().send(topic, Message.builder().id("m-" + i).key("k").payload("v").build()).join();
            }
            long kept = length(t, topic);
            assertThat(kept).as("MAXLEN ~ 100 keeps at least 100, in whole nodes").isBetween(100L, 999L);

            List<String> got = new ArrayList<>();
            await().atMost(WAIT).pollInSameThread().until(() -> {
                c.poll(1000, Long.MAX_VALUE, true, TimeUnit.MILLISECONDS.toNanos(100),
                        (m, p, offset, size, attempt, handle) -> got.add(m.id()));
                return got.size() >= kept;
            });
            assertThat(got).as("only the newest entries are left to read: the others were trimmed unread")
                    .hasSize((int) kept).endsWith("m-999").doesNotContain("m-0");
            c.close();
        }
    }

    @Test
    void shouldTrimEntriesOlderThanMaxAgeWhenPublishing() throws Exception {
        String topic = "maxage-" + System.nanoTime();
        try (RedisTransport t = new RedisTransport(RedisTestServer.settings(RedisTestServer.get()).partitions(1)
                .maxAge(Duration.ofMillis(500)).build())) {
            for (int i = 0; i < 300; i++) {
                t.producer().send(topic, Message.builder().key("k").payload("old").build()).join();
            }
            assertThat(length(t, topic)).isEqualTo(300);
            // Each later publish trims, in whole nodes, the entries older than 500 ms by then.
            await().atMost(WAIT).until(() -> {
                t.producer().send(topic, Message.builder().key("k").payload("new").build()).join();
                return length(t, topic) < 100;
            });
        }
    }
}
