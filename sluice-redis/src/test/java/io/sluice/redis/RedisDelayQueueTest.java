package io.sluice.redis;

import io.sluice.Message;
import io.sluice.RetryLaterException;
import io.sluice.Sluice;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.RetryPolicy;
import io.sluice.config.SluiceConfig;
import io.sluice.config.StartPosition;
import io.sluice.spi.ConsumerSpec;
import io.sluice.spi.PartitionListener;
import io.sluice.spi.Redelivery;
import io.sluice.spi.TransportConsumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Long retry delays go to a sorted set per group and partition, scored by due time; the entry stays pending in the
 * stream meanwhile, and the partition's owner at the due time claims it back (schedule removal and claim in one
 * script).
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class RedisDelayQueueTest {
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final long POLL_NANOS = TimeUnit.MILLISECONDS.toNanos(100);

    private final String topic = "delay-" + System.nanoTime();
    private final List<AutoCloseable> cleanup = new ArrayList<>();

    @AfterEach
    void close() throws Exception {
        for (AutoCloseable c : cleanup.reversed()) {
            c.close();
        }
    }

    private RedisTransport transport() {
        RedisTransport t = new RedisTransport(RedisTestServer.settings(RedisTestServer.get()).build());
        cleanup.add(t);
        return t;
    }

    @Test
    void shouldParkALongRetryInTheScheduleAndLetLaterMessagesOfItsKeyPass() {
        RedisTransport transport = transport();
        Sluice sluice = Sluice.create(transport, SluiceConfig.of("redis"));
        cleanup.add(sluice);
        AtomicInteger attemptsOfFirst = new AtomicInteger();
        List<String> handled = new CopyOnWriteArrayList<>();
        sluice.subscribe(topic, "g", m -> {
            if (m.payloadAsString().equals("first") && attemptsOfFirst.incrementAndGet() == 1) {
                throw new RetryLaterException(Duration.ofSeconds(1), "not yet");
            }
            handled.add(m.payloadAsString());
        }, ConsumerOptions.builder().retry(RetryPolicy.builder().maxAttempts(3)
                .nativeDelayThreshold(Duration.ofMillis(500)).build()).build());

        sluice.publisher().publish(topic, Message.of("k", "first")).join();
        await().atMost(WAIT).until(() -> scheduled(transport) == 1);
        sluice.publisher().publish(topic, Message.of("k", "second")).join();
        await().atMost(WAIT).until(() -> handled.contains("second"));
        await().atMost(WAIT).until(() -> handled.contains("first"));

        assertThat(handled).as("the parked message no longer holds back its key").containsExactly("second", "first");
        assertThat(attemptsOfFirst.get()).isEqualTo(2);
        await().atMost(WAIT).until(() -> scheduled(transport) == 0 && pending(transport) == 0);
    }

    @Test
    void shouldDeliverARedeliveryOnceWhenTheMemberThatParkedItDies() throws Exception {
        RedisTransport dying = transport();
        dying.producer().send(topic, Message.builder().id("m-1").key("k").payload("x").build()).join();
        TransportConsumer first = consumer(dying);
        List<Object[]> got = new ArrayList<>();
        pollUntil(first, got, 1);
        Object[] delivery = got.get(0);
        first.redeliverLater(new Redelivery((Message) delivery[0], (int) delivery[1], (long) delivery[2], delivery[4],
                2, TimeUnit.SECONDS.toNanos(1))).get(10, TimeUnit.SECONDS);
        assertThat(scheduled(dying)).isEqualTo(1);
        dying.close(); // dies holding the schedule's only entry: no leave; its leases expire

        RedisTransport survivor = transport();
        TransportConsumer heir = consumer(survivor);
        List<Object[]> seen = new ArrayList<>();
        pollUntil(heir, seen, 1);
        assertThat(((Message) seen.get(0)[0]).id()).isEqualTo("m-1");
        assertThat(seen.get(0)[3]).as("delivery attempt continues the count").isEqualTo(3);
        heir.ack(seen.get(0)[4]);
        survivor.producer().send(topic, Message.builder().id("m-2").key("k").payload("y").build()).join();
        pollUntil(heir, seen, 2);
        assertThat(seen).extracting(s -> ((Message) s[0]).id()).containsExactly("m-1", "m-2");
        heir.ack(seen.get(1)[4]);
        assertThat(scheduled(survivor)).isZero();
        await().atMost(WAIT).until(() -> pending(survivor) == 0);
        heir.close();
    }

    @Test
    void shouldDeliverAMovedRedeliveryOnceWhenTheMoverDiesBeforeFinishingIt() throws Exception {
        RedisTransport dying = transport();
        dying.producer().send(topic, Message.builder().id("m-1").key("k").payload("x").build()).join();
        TransportConsumer mover = consumer(dying);
        List<Object[]> got = new ArrayList<>();
        pollUntil(mover, got, 1);
        Object[] delivery = got.get(0);
        mover.redeliverLater(new Redelivery((Message) delivery[0], (int) delivery[1], (long) delivery[2], delivery[4],
                1, TimeUnit.MILLISECONDS.toNanos(200))).get(10, TimeUnit.SECONDS);
        pollUntil(mover, got, 2); // due: moved out of the schedule and claimed in one script, delivered again
        assertThat(((Message) got.get(1)[0]).id()).isEqualTo("m-1");
        assertThat(got.get(1)[3]).isEqualTo(2);
        assertThat(scheduled(dying)).isZero();
        dying.close(); // dies before finishing it: the entry is pending under the dead member

        RedisTransport survivor = transport();
        TransportConsumer heir = consumer(survivor);
        List<Object[]> seen = new ArrayList<>();
        pollUntil(heir, seen, 1);
        assertThat(((Message) seen.get(0)[0]).id()).isEqualTo("m-1");
        heir.ack(seen.get(0)[4]);
        survivor.producer().send(topic, Message.builder().id("m-2").key("k").payload("y").build()).join();
        pollUntil(heir, seen, 2);
        assertThat(seen).extracting(s -> ((Message) s[0]).id()).as("neither lost nor doubled")
                .containsExactly("m-1", "m-2");
        heir.ack(seen.get(1)[4]);
        await().atMost(WAIT).until(() -> pending(survivor) == 0);
        heir.close();
    }

    @Test
    void shouldPublishLaterOnceIntoTheStreamForEveryGroupWhoseMembersAllTryToMoveIt() throws Exception {
        RedisTransport transport = transport();
        Sluice sluice = Sluice.create(transport, SluiceConfig.of("redis"));
        cleanup.add(sluice);
        List<String> billing = new CopyOnWriteArrayList<>();
        List<String> audit = new CopyOnWriteArrayList<>();
        sluice.subscribe(topic, "billing", m -> billing.add(m.id() + " " + m.payloadAsString()));
        sluice.subscribe(topic, "billing", m -> billing.add(m.id() + " " + m.payloadAsString()));
        sluice.subscribe(topic, "audit", m -> audit.add(m.id() + " " + m.payloadAsString()));

        Message reminder = Message.builder().id("reminder-1").key("invoice-9").payload("pay now").build()
                .withDefaults(System.currentTimeMillis());
        transport.publishLater(topic, reminder, Duration.ofMillis(300)).get(10, TimeUnit.SECONDS);
        await().atMost(WAIT).until(() -> billing.size() == 1 && audit.size() == 1);

        assertThat(billing).containsExactly("reminder-1 pay now");
        assertThat(audit).containsExactly("reminder-1 pay now");
        long length = 0;
        for (String stream : transport.names().streams(topic)) {
            length += transport.commands().xlen(stream).get();
        }
        assertThat(length).as("appended once, though members of two groups move due publishes").isEqualTo(1);
        for (String schedule : transport.names().publishSchedules(topic)) {
            assertThat(transport.commands().zcard(schedule).get()).isZero();
        }
    }

    private TransportConsumer consumer(RedisTransport t) {
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

    private static void pollUntil(TransportConsumer c, List<Object[]> into, int count) {
        await().atMost(WAIT).pollInSameThread().until(() -> {
            c.poll(100, Long.MAX_VALUE, true, POLL_NANOS, (m, p, offset, size, attempt, handle) ->
                    into.add(new Object[] {m, p, offset, attempt, handle}));
            return into.size() >= count;
        });
    }

    private long scheduled(RedisTransport t) throws Exception {
        long n = 0;
        for (String key : t.names().schedules(topic, "g")) {
            n += t.commands().zcard(key).get();
        }
        return n;
    }

    private long pending(RedisTransport t) throws Exception {
        long n = 0;
        for (String stream : t.names().streams(topic)) {
            n += t.commands().xpending(stream, "g").get().getCount();
        }
        return n;
    }
}
