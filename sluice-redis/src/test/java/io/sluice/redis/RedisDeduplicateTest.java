package io.sluice.redis;

import io.sluice.Message;
import io.sluice.Sluice;
import io.sluice.Subscription;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.SluiceConfig;
import io.sluice.testkit.Subscriptions;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The Redis-backed deduplication middleware, on the memory transport (it works with any transport) and on Redis, with
 * a consumer killed (its subscription abandoned: no drain, no acknowledgement) between the steps.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class RedisDeduplicateTest {
    private static final Duration WAIT = Duration.ofSeconds(60);

    private final String namespace = "dedup-" + System.nanoTime();
    private final RedisSettings settings = RedisTestServer.settings(RedisTestServer.get()).build();
    private final List<AutoCloseable> cleanup = new ArrayList<>();

    @AfterEach
    void close() throws Exception {
        for (AutoCloseable c : cleanup.reversed()) {
            c.close();
        }
    }

    private <T extends AutoCloseable> T closing(T c) {
        cleanup.add(c);
        return c;
    }

    /** Steps that block at one step, the first time, until the subscription is abandoned. */
    private static final class DieAt implements RedisDeduplicate.Steps {
        final CountDownLatch reached = new CountDownLatch(1);
        private final boolean afterRecord;

        DieAt(boolean afterRecord) {
            this.afterRecord = afterRecord;
        }

        @Override
        public void handled(Message message) throws InterruptedException {
            if (!afterRecord) {
                block();
            }
        }

        @Override
        public void recorded(Message message) throws InterruptedException {
            if (afterRecord) {
                block();
            }
        }

        private void block() throws InterruptedException {
            if (reached.getCount() > 0) {
                reached.countDown();
                Thread.sleep(TimeUnit.MINUTES.toMillis(10)); // until the abandon interrupts it
            }
        }
    }

    private List<String> runKilledAt(boolean afterRecord) throws Exception {
        Sluice sluice = closing(Sluice.create(SluiceConfig.of("memory")));
        List<String> effects = new CopyOnWriteArrayList<>();
        DieAt dieAt = new DieAt(afterRecord);
        RedisDeduplicate dying = closing(RedisDeduplicate.withSteps(settings, namespace, Duration.ofHours(1), dieAt));
        Subscription first = sluice.subscribe("mail", "welcome", m -> effects.add(m.id()),
                ConsumerOptions.builder().middleware(dying).build());
        sluice.publisher().publish("mail", Message.builder().id("signup-1").key("user-1").payload("a").build())
                .join();
        assertThat(dieAt.reached.await(60, TimeUnit.SECONDS)).isTrue();
        Subscriptions.abandon(first); // the consumer dies here: nothing acknowledged

        RedisDeduplicate dedup = closing(RedisDeduplicate.handledWithin(settings, namespace, Duration.ofHours(1)));
        sluice.subscribe("mail", "welcome", m -> effects.add(m.id()),
                ConsumerOptions.builder().middleware(dedup).build());
        sluice.publisher().publish("mail", Message.builder().id("signup-2").key("user-1").payload("b").build())
                .join();
        await().atMost(WAIT).until(() -> effects.contains("signup-2")); // same key: signup-1 was done before it
        assertThat(dedup.seen(Message.builder().id("signup-1").build())).isTrue();
        return effects;
    }

    @Test
    void shouldNotRunTheHandlerAgainWhenTheConsumerDiesBetweenRecordAndAcknowledgement() throws Exception {
        assertThat(runKilledAt(true)).containsExactly("signup-1", "signup-2");
    }

    @Test
    void shouldRunTheHandlerAgainRatherThanLoseTheMessageWhenTheConsumerDiesBeforeTheRecord() throws Exception {
        assertThat(runKilledAt(false)).as("handled twice (the documented window), never lost")
                .containsExactly("signup-1", "signup-1", "signup-2");
    }

    @Test
    void shouldSkipAMessagePublishedTwiceAcrossTwoClientsOfTheRedisTransport() {
        List<String> effects = new CopyOnWriteArrayList<>();
        RedisDeduplicate dedup = closing(RedisDeduplicate.handledWithin(settings, namespace, Duration.ofHours(1)));
        Sluice a = closing(Sluice.create(new RedisTransport(settings), SluiceConfig.of("redis")));
        Sluice b = closing(Sluice.create(new RedisTransport(settings), SluiceConfig.of("redis")));
        String topic = "orders-" + namespace;
        ConsumerOptions options = ConsumerOptions.builder().middleware(dedup).build();
        a.subscribe(topic, "billing", m -> effects.add(m.id() + " " + m.payloadAsString()), options);
        b.subscribe(topic, "billing", m -> effects.add(m.id() + " " + m.payloadAsString()), options);
        for (int i = 0; i < 20; i++) {
            Message m = Message.builder().id("order-" + i).key("customer-" + i).payload("v" + i).build();
            a.publisher().publish(topic, m).join();
            b.publisher().publish(topic, m).join(); // the same message again, as a publisher retry would
        }
        a.publisher().publish(topic, Message.builder().id("last").key("customer-0").payload("end").build()).join();
        await().atMost(WAIT).until(() -> effects.size() >= 21 && effects.contains("last end"));
        assertThat(effects).hasSize(21).doesNotHaveDuplicates();
    }
}
