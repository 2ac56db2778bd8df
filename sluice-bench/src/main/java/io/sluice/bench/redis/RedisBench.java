package io.sluice.bench.redis;

import io.lettuce.core.Consumer;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisFuture;
import io.lettuce.core.RedisURI;
import io.lettuce.core.StreamMessage;
import io.lettuce.core.XReadArgs;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.async.RedisAsyncCommands;
import io.lettuce.core.codec.ByteArrayCodec;
import io.lettuce.core.codec.RedisCodec;
import io.lettuce.core.codec.StringCodec;
import io.sluice.Message;
import io.sluice.Sluice;
import io.sluice.bench.Benchmark;
import io.sluice.bench.CpuClock;
import io.sluice.brokers.redis.RedisServer;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.PublisherOptions;
import io.sluice.config.SluiceConfig;
import io.sluice.redis.RedisSettings;
import io.sluice.redis.RedisTransport;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;

/**
 * {@code sluice bench redis}: Sluice on Redis Streams side by side with raw Lettuce, against one local redis-server
 * that the benchmark starts (no persistence: the client side is measured). In one run:
 *
 * <ol>
 *   <li>publish: Sluice's publisher vs Lettuce {@code XADD} pipelined on one connection with the same bound on
 *       outstanding commands, the same fields (id, timestamp, key, payload) and the same partition streams;</li>
 *   <li>consume: a Sluice subscription (zero-work handler) vs a raw loop of {@code XREADGROUP COUNT} over the
 *       partition streams with an {@code XACK} per message, pipelined;</li>
 *   <li>key-ordered consumption: 2 ms handlers over 1,000 keys, as a ratio to the ideal
 *       {@code min(keys, maxInFlight) / latency}.</li>
 * </ol>
 * Every phase reports process CPU time per message (the server is another process and is not counted).
 */
@Command(name = "redis", mixinStandardHelpOptions = true,
        description = "Sluice on Redis Streams (publish, consume, key-ordered) vs raw Lettuce.")
public final class RedisBench implements Benchmark {
    @Option(names = "--messages", defaultValue = "200000",
            description = "messages per publish and consume run (default ${DEFAULT-VALUE})")
    int messages;

    @Option(names = "--payload", defaultValue = "100", description = "payload bytes (default ${DEFAULT-VALUE})")
    int payloadBytes;

    @Option(names = "--partitions", defaultValue = "4", description = "streams per topic (default ${DEFAULT-VALUE})")
    int partitions;

    @Option(names = "--max-pending", defaultValue = "4096",
            description = "outstanding publishes, both sides (default ${DEFAULT-VALUE})")
    int maxPending;

    @Option(names = "--max-in-flight", defaultValue = "1000",
            description = "consumer.maxInFlight, and the raw loop's COUNT in total (default ${DEFAULT-VALUE})")
    int maxInFlight;

    @Option(names = "--ordered-messages", defaultValue = "100000",
            description = "messages for the key-ordered run (default ${DEFAULT-VALUE})")
    int orderedMessages;

    @Option(names = "--keys", defaultValue = "1000", description = "keys in the key-ordered run (default ${DEFAULT-VALUE})")
    int keys;

    @Option(names = "--latency-ms", defaultValue = "2", description = "handler latency in the key-ordered run (default ${DEFAULT-VALUE})")
    int latencyMillis;

    @Option(names = "--rounds", defaultValue = "2", description = "alternating rounds, best reported (default ${DEFAULT-VALUE})")
    int rounds;

    /** A 36-character id like Sluice's UUIDv7s, without the cost of making one. */
    private static final String ID_PREFIX = "00000000-0000-7000-8000-0";
    private final PrintStream out = System.out;
    private byte[] payload;

    @Override
    public Integer call() throws Exception {
        payload = new byte[payloadBytes];
        out.printf("sluice bench redis: %,d messages of %d bytes, %d partitions, %,d pending publishes, maxInFlight "
                        + "%,d; key-ordered %,d messages over %,d keys at %d ms%n", messages, payloadBytes, partitions,
                maxPending, maxInFlight, orderedMessages, keys, latencyMillis);
        out.printf("JVM %s, %d cores%n", Runtime.version(), Runtime.getRuntime().availableProcessors());
        out.println("starting redis-server ...");
        try (RedisServer server = RedisServer.start()) {
            out.printf("redis-server at %s%n", server.uri());
            return run(server);
        }
    }

    private int run(RedisServer server) throws Exception {
        RedisSettings settings = RedisSettings.builder().host(server.host()).port(server.port())
                .partitions(partitions).build();
        SluiceConfig config = SluiceConfig.of("redis").withPublisher(PublisherOptions.builder()
                .maxPendingPublishes(Math.max(maxPending, 1)).publishTimeout(Duration.ofSeconds(30)).build());
        RedisClient client = RedisClient.create(RedisURI.create(server.host(), server.port()));
        try (StatefulRedisConnection<String, byte[]> raw = client.connect(
                RedisCodec.of(StringCodec.UTF8, ByteArrayCodec.INSTANCE));
             Sluice sluice = Sluice.create(new RedisTransport(settings), config)) {
            RedisAsyncCommands<String, byte[]> redis = raw.async();
            out.println("warm-up ...");
            int warm = Math.min(messages, 50_000);
            rawPublish(redis, "warm", warm);
            sluicePublish(sluice, "warmbench", warm);
            rawConsume(redis, "warm", warm, "warmreader");
            sluiceConsume(sluice, "warmbench", warm, "warmreader");

            Result rawPub = null;
            Result sluicePub = null;
            Result rawCon = null;
            Result sluiceCon = null;
            for (int round = 1; round <= rounds; round++) {
                out.printf("round %d of %d%n", round, rounds);
                rawPub = best(rawPub, rawPublish(redis, "raw" + round, messages));
                sluicePub = best(sluicePub, sluicePublish(sluice, "sluice" + round, messages));
            }
            for (int round = 1; round <= rounds; round++) {
                out.printf("round %d of %d%n", round, rounds);
                rawCon = best(rawCon, rawConsume(redis, "raw" + round, messages, "reader"));
                sluiceCon = best(sluiceCon, sluiceConsume(sluice, "sluice" + round, messages, "reader"));
            }
            Result ordered = keyOrdered(sluice);
            double ideal = Math.min(keys, maxInFlight) / (latencyMillis / 1000.0);

            out.println();
            out.println("Results (one run, same server)");
            out.printf("  (publish and consume: best of %d alternating rounds)%n", rounds);
            row("publish   raw Lettuce XADD pipelined", rawPub, null);
            row("publish   sluice publisher", sluicePub, rawPub);
            row("consume   raw XREADGROUP + XACK", rawCon, null);
            row("consume   sluice subscription", sluiceCon, rawCon);
            out.printf("  %-40s %,12.0f msg/s   %.3f x ideal (%,.0f msg/s = min(keys, maxInFlight) / %d ms)   "
                            + "CPU %,6.1f us/msg%n", "key-ordered 2 ms  sluice subscription", ordered.rate(),
                    ordered.rate() / ideal, ideal, latencyMillis, ordered.cpuMicrosPerMessage());
            out.println();
            out.printf("targets: publish >= 0.9 x raw: %s (%.3f); consume >= 0.8 x raw: %s (%.3f)%n",
                    sluicePub.rate() >= 0.9 * rawPub.rate() ? "met" : "MISSED", sluicePub.rate() / rawPub.rate(),
                    sluiceCon.rate() >= 0.8 * rawCon.rate() ? "met" : "MISSED", sluiceCon.rate() / rawCon.rate());
            return 0;
        } finally {
            client.shutdown();
        }
    }

    private static Result best(Result a, Result b) {
        return a == null || b.rate() > a.rate() ? b : a;
    }

    private void row(String label, Result r, Result baseline) {
        out.printf("  %-40s %,12.0f msg/s   %s   CPU %,6.1f us/msg%n", label, r.rate(),
                baseline == null ? "            " : String.format("%.3f x raw ", r.rate() / baseline.rate()),
                r.cpuMicrosPerMessage());
    }

    private String rawStream(String topic, int p) {
        return "rawbench:" + topic + ":" + p;
    }

    /** Raw XADD with the fields Sluice writes (id, ts, k, p), at most maxPending outstanding. */
    private Result rawPublish(RedisAsyncCommands<String, byte[]> redis, String topic, int n) throws Exception {
        Semaphore permits = new Semaphore(maxPending);
        long cpu0 = CpuClock.processCpuNanos();
        long t0 = System.nanoTime();
        for (int i = 0; i < n; i++) {
            permits.acquire();
            String key = "key-" + (i % keys);
            int h = key.hashCode();
            int p = Math.floorMod(h ^ (h >>> 16), partitions);
            redis.xadd(rawStream(topic, p), "id", (ID_PREFIX + (100_000_000_000L + i)).getBytes(StandardCharsets.UTF_8),
                    "ts", Long.toString(System.currentTimeMillis()).getBytes(StandardCharsets.US_ASCII),
                    "k", key.getBytes(StandardCharsets.UTF_8), "p", payload)
                    .whenComplete((id, e) -> permits.release());
        }
        permits.acquire(maxPending);
        Result r = Result.of(n, t0, cpu0);
        out.printf("raw publish: %,.0f msg/s%n", r.rate());
        return r;
    }

    private Result sluicePublish(Sluice sluice, String topic, int n) {
        long cpu0 = CpuClock.processCpuNanos();
        long t0 = System.nanoTime();
        CompletableFuture<?>[] fs = new CompletableFuture<?>[n];
        for (int i = 0; i < n; i++) {
            fs[i] = sluice.publisher().publish(topic, Message.builder().key("key-" + (i % keys)).payload(payload)
                    .build());
        }
        CompletableFuture.allOf(fs).join();
        Result r = Result.of(n, t0, cpu0);
        out.printf("sluice publish: %,.0f msg/s%n", r.rate());
        return r;
    }

    /** Raw XREADGROUP COUNT (maxInFlight spread over the streams) and one pipelined XACK per message. */
    @SuppressWarnings("unchecked")
    private Result rawConsume(RedisAsyncCommands<String, byte[]> redis, String topic, int n, String group)
            throws Exception {
        XReadArgs.StreamOffset<String>[] offsets = new XReadArgs.StreamOffset[partitions];
        for (int p = 0; p < partitions; p++) {
            redis.xgroupCreate(XReadArgs.StreamOffset.from(rawStream(topic, p), "0"), group).get();
            offsets[p] = XReadArgs.StreamOffset.lastConsumed(rawStream(topic, p));
        }
        Consumer<String> me = Consumer.from(group, "raw");
        XReadArgs args = XReadArgs.Builder.count(Math.max(1, maxInFlight / partitions)).block(100);
        long cpu0 = CpuClock.processCpuNanos();
        long t0 = System.nanoTime();
        long got = 0;
        List<RedisFuture<Long>> acks = new ArrayList<>();
        while (got < n) {
            for (StreamMessage<String, byte[]> m : redis.xreadgroup(me, args, offsets).get()) {
                acks.add(redis.xack(m.getStream(), group, m.getId()));
                got++;
            }
            if (acks.size() > maxPending) {
                for (RedisFuture<Long> f : acks) {
                    f.get();
                }
                acks.clear();
            }
        }
        for (RedisFuture<Long> f : acks) {
            f.get();
        }
        Result r = Result.of(n, t0, cpu0);
        out.printf("raw consume: %,.0f msg/s%n", r.rate());
        return r;
    }

    private Result sluiceConsume(Sluice sluice, String topic, int n, String group) throws Exception {
        LongAdder count = new LongAdder();
        CountDownLatch done = new CountDownLatch(1);
        long cpu0 = CpuClock.processCpuNanos();
        long t0 = System.nanoTime();
        var sub = sluice.subscribe(topic, group, m -> {
            count.increment();
            if (count.sum() == n) {
                done.countDown();
            }
        }, ConsumerOptions.builder().maxInFlight(maxInFlight).build());
        done.await();
        Result r = Result.of(n, t0, cpu0);
        sub.close();
        out.printf("sluice consume: %,.0f msg/s%n", r.rate());
        return r;
    }

    private Result keyOrdered(Sluice sluice) throws Exception {
        String topic = "orderedbench";
        out.printf("key-ordered: publishing %,d messages over %,d keys ...%n", orderedMessages, keys);
        CompletableFuture<?>[] fs = new CompletableFuture<?>[orderedMessages];
        for (int i = 0; i < orderedMessages; i++) {
            fs[i] = sluice.publisher().publish(topic, Message.builder().key("key-" + (i % keys)).payload(payload)
                    .build());
        }
        CompletableFuture.allOf(fs).join();
        LongAdder count = new LongAdder();
        CountDownLatch done = new CountDownLatch(1);
        long sleepNanos = TimeUnit.MILLISECONDS.toNanos(latencyMillis);
        long cpu0 = CpuClock.processCpuNanos();
        long t0 = System.nanoTime();
        var sub = sluice.subscribe(topic, "ordered", m -> {
            TimeUnit.NANOSECONDS.sleep(sleepNanos);
            count.increment();
            if (count.sum() == orderedMessages) {
                done.countDown();
            }
        }, ConsumerOptions.builder().maxInFlight(maxInFlight).build());
        done.await();
        Result r = Result.of(orderedMessages, t0, cpu0);
        sub.close();
        out.printf("key-ordered consume: %,.0f msg/s%n", r.rate());
        return r;
    }

    private record Result(long messages, long nanos, long cpuNanos) {
        static Result of(long messages, long t0, long cpu0) {
            return new Result(messages, System.nanoTime() - t0, CpuClock.processCpuNanos() - cpu0);
        }

        double rate() {
            return messages * 1e9 / nanos;
        }

        double cpuMicrosPerMessage() {
            return cpuNanos / 1e3 / messages;
        }
    }
}
