package io.sluice.bench.nats;

import io.nats.client.Connection;
import io.nats.client.Dispatcher;
import io.nats.client.JetStream;
import io.nats.client.JetStreamManagement;
import io.nats.client.JetStreamSubscription;
import io.nats.client.Nats;
import io.nats.client.PullSubscribeOptions;
import io.nats.client.api.AckPolicy;
import io.nats.client.api.ConsumerConfiguration;
import io.nats.client.api.PublishAck;
import io.nats.client.api.StorageType;
import io.nats.client.api.StreamConfiguration;
import io.nats.client.impl.Headers;
import io.sluice.Message;
import io.sluice.Receipt;
import io.sluice.Sluice;
import io.sluice.bench.Benchmark;
import io.sluice.bench.CpuClock;
import io.sluice.brokers.nats.NatsServer;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.PublisherOptions;
import io.sluice.config.SluiceConfig;
import io.sluice.nats.NatsRequests;
import io.sluice.nats.NatsSettings;
import io.sluice.nats.NatsTransport;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.LongSupplier;

/**
 * {@code sluice bench nats}: Sluice on NATS side by side with raw jnats, against one local nats-server 2.9 that the
 * benchmark starts (and installs when missing). In one run:
 *
 * <ol>
 *   <li>JetStream publish: Sluice's publisher vs jnats {@code publishAsync} with the same bound on outstanding acks
 *       and a {@code Nats-Msg-Id} on every message, both to a 3-subject file stream;</li>
 *   <li>JetStream consume: a Sluice subscription (zero-work handler) vs a raw jnats pull-consumer loop
 *       ({@code fetch} + explicit {@code ack}) reading the same number of messages;</li>
 *   <li>key-ordered consumption: 2 ms handlers over 1,000 keys, as a ratio to the ideal
 *       {@code min(keys, maxInFlight) / latency};</li>
 *   <li>core request/reply: sequential round trips per second, Sluice {@link NatsRequests} vs raw jnats.</li>
 * </ol>
 *
 * Every phase reports process CPU time per message (the server is another process and is not counted).
 */
@Command(name = "nats", mixinStandardHelpOptions = true,
        description = "Sluice on NATS (JetStream publish/consume, key-ordered, core request/reply) vs raw jnats.")
public final class NatsBench implements Benchmark {
    @Option(names = "--messages", defaultValue = "200000",
            description = "messages per publish and consume run (default ${DEFAULT-VALUE})")
    int messages;

    @Option(names = "--payload", defaultValue = "100", description = "payload bytes (default ${DEFAULT-VALUE})")
    int payloadBytes;

    @Option(names = "--max-pending", defaultValue = "4096",
            description = "outstanding publish acks, both sides (default ${DEFAULT-VALUE})")
    int maxPending;

    @Option(names = "--ordered-messages", defaultValue = "100000",
            description = "messages for the key-ordered run (default ${DEFAULT-VALUE})")
    int orderedMessages;

    @Option(names = "--keys", defaultValue = "1000", description = "keys in the key-ordered run (default ${DEFAULT-VALUE})")
    int keys;

    @Option(names = "--latency-ms", defaultValue = "2", description = "handler latency in the key-ordered run (default ${DEFAULT-VALUE})")
    int latencyMillis;

    @Option(names = "--max-in-flight", defaultValue = "1000", description = "consumer.maxInFlight (default ${DEFAULT-VALUE})")
    int maxInFlight;

    @Option(names = "--requests", defaultValue = "20000", description = "request/reply round trips (default ${DEFAULT-VALUE})")
    int requests;

    @Option(names = "--rounds", defaultValue = "3",
            description = "alternating rounds of the publish and consume comparisons; best of each (default ${DEFAULT-VALUE})")
    int rounds;

    @Option(names = "--partitions", defaultValue = "3", description = "partitions (subjects) per topic (default ${DEFAULT-VALUE})")
    int partitions;

    private final PrintStream out = System.out;
    private byte[] payload;

    @Override
    public Integer call() throws Exception {
        payload = new byte[payloadBytes];
        out.printf("sluice bench nats: %,d messages of %d bytes, %d partitions, %,d pending acks; key-ordered %,d "
                        + "messages over %,d keys at %d ms; %,d request/reply round trips%n", messages, payloadBytes,
                partitions, maxPending, orderedMessages, keys, latencyMillis, requests);
        out.printf("JVM %s, %d cores%n", Runtime.version(), Runtime.getRuntime().availableProcessors());
        out.println("starting nats-server ...");
        try (NatsServer server = NatsServer.start()) {
            out.printf("nats-server at %s, store %s%n", server.url(), server.directory());
            return run(server.url());
        }
    }

    private int run(String url) throws Exception {
        NatsSettings settings = NatsSettings.builder().server(url).partitions(partitions)
                .publish(maxPending, Duration.ofSeconds(30)).build();
        SluiceConfig config = SluiceConfig.of("nats").withPublisher(PublisherOptions.builder()
                .maxPendingPublishes(Math.max(maxPending, 1)).publishTimeout(Duration.ofSeconds(30)).build());
        try (Connection raw = Nats.connect(url);
             Sluice sluice = Sluice.create(new NatsTransport(settings), config)) {
            JetStream js = raw.jetStream();
            JetStreamManagement jsm = raw.jetStreamManagement();
            String[] rawSubjects = new String[partitions];
            for (int p = 0; p < partitions; p++) {
                rawSubjects[p] = "rawbench." + p;
            }
            jsm.addStream(StreamConfiguration.builder().name("rawbench").subjects(rawSubjects)
                    .storageType(StorageType.File).build());

            out.println("warm-up ...");
            for (int i = 0; i < 2; i++) {
                rawPublish(js, rawSubjects, Math.min(messages, 50_000), "warm" + i, i == 1);
                sluicePublish(sluice, "warmbench", Math.min(messages, 50_000));
            }
            rawConsume(js, jsm, Math.min(messages, 50_000), "warmreader");
            sluiceConsume(sluice, "warmbench", Math.min(messages, 50_000), "warmreader");
            jsm.purgeStream("rawbench");

            // Two alternating rounds of each, best of each reported: the machine is shared and noisy.
            Result rawPub = null;
            Result rawPubSame = null;
            Result sluicePub = null;
            Result rawCon = null;
            Result sluiceCon = null;
            for (int round = 1; round <= rounds; round++) {
                out.printf("round %d of %d%n", round, rounds);
                rawPub = best(rawPub, rawPublish(js, rawSubjects, messages, "raw" + round, false));
                sluicePub = best(sluicePub, sluicePublish(sluice, "sluicebench", messages));
                rawPubSame = best(rawPubSame, rawPublish(js, rawSubjects, messages, "rawsame" + round, true));
            }
            for (int round = 1; round <= rounds; round++) {
                out.printf("round %d of %d%n", round, rounds);
                rawCon = best(rawCon, rawConsume(js, jsm, messages, "rawreader" + round));
                sluiceCon = best(sluiceCon, sluiceConsume(sluice, "sluicebench", messages, "reader" + round));
            }
            Result ordered = keyOrdered(sluice);
            double ideal = Math.min(keys, maxInFlight) / (latencyMillis / 1000.0);
            Result[] rr = requestReply(url);

            out.println();
            out.println("Results (one run, same server)");
            out.printf("  (publish and consume: best of %d alternating rounds)%n", rounds);
            row("JetStream publish   raw jnats publishAsync", rawPub, null);
            row("JetStream publish   sluice publisher", sluicePub, rawPub);
            row("JetStream publish   raw, Sluice-sized headers", rawPubSame, rawPub);
            row("JetStream consume   raw jnats fetch+ack", rawCon, null);
            row("JetStream consume   sluice subscription", sluiceCon, rawCon);
            out.printf("  %-44s %,12.0f msg/s   %.3f x ideal (%,.0f msg/s = min(keys, maxInFlight) / %d ms)   "
                            + "CPU %,6.1f us/msg%n", "key-ordered 2 ms    sluice subscription", ordered.rate(),
                    ordered.rate() / ideal, ideal, latencyMillis, ordered.cpuMicrosPerMessage());
            row("core request/reply  raw jnats", rr[0], null);
            row("core request/reply  sluice NatsRequests", rr[1], rr[0]);
            out.println();
            out.printf("targets: publish >= 0.95 x raw: %s (%.3f); consume >= 0.70 x raw: %s (%.3f)%n",
                    sluicePub.rate() >= 0.95 * rawPub.rate() ? "met" : "MISSED", sluicePub.rate() / rawPub.rate(),
                    sluiceCon.rate() >= 0.70 * rawCon.rate() ? "met" : "MISSED", sluiceCon.rate() / rawCon.rate());
            return 0;
        }
    }

    private static Result best(Result a, Result b) {
        return a == null || b.rate() > a.rate() ? b : a;
    }

    private void row(String label, Result r, Result baseline) {
        out.printf("  %-44s %,12.0f msg/s   %s   CPU %,6.1f us/msg%n", label, r.rate(),
                baseline == null ? "            " : String.format("%.3f x raw ", r.rate() / baseline.rate()),
                r.cpuMicrosPerMessage());
    }

    // ------------------------------------------------------------------ publish

    /**
     * Raw jnats async publish. With {@code sluiceSizedHeaders} the message carries what Sluice sends (a 36-character
     * UUID id and a millisecond timestamp header), to separate the cost of bigger messages from client overhead.
     */
    private Result rawPublish(JetStream js, String[] subjects, int n, String label, boolean sluiceSizedHeaders)
            throws Exception {
        Semaphore permits = new Semaphore(maxPending);
        LongAdder acked = new LongAdder();
        AtomicLong failed = new AtomicLong();
        Progress progress = new Progress("raw publish", acked::sum, n);
        long cpu0 = CpuClock.processCpuNanos();
        long t0 = System.nanoTime();
        for (int i = 0; i < n; i++) {
            permits.acquire();
            Headers h = new Headers();
            if (sluiceSizedHeaders) {
                h.put("Nats-Msg-Id", java.util.UUID.randomUUID().toString());
                h.put("Sluice-Time", Long.toString(System.currentTimeMillis()));
            } else {
                h.put("Nats-Msg-Id", label + "-" + i);
            }
            CompletableFuture<PublishAck> f = js.publishAsync(subjects[i % subjects.length], h, payload);
            f.whenComplete((ack, e) -> {
                permits.release();
                if (e != null) {
                    failed.incrementAndGet();
                }
                acked.increment();
            });
        }
        permits.acquire(maxPending);
        Result r = Result.of(n, t0, cpu0);
        progress.stop();
        permits.release(maxPending);
        if (failed.get() > 0) {
            out.printf("  (raw publish: %,d failed)%n", failed.get());
        }
        out.printf("raw jnats publish%s: %,.0f msg/s%n", sluiceSizedHeaders ? " (Sluice-sized headers)" : "",
                r.rate());
        return r;
    }

    private Result sluicePublish(Sluice sluice, String topic, int n) throws Exception {
        LongAdder acked = new LongAdder();
        Progress progress = new Progress("sluice publish", acked::sum, n);
        CountDownLatch done = new CountDownLatch(n);
        AtomicLong failed = new AtomicLong();
        long cpu0 = CpuClock.processCpuNanos();
        long t0 = System.nanoTime();
        for (int i = 0; i < n; i++) {
            sluice.publisher().publish(topic, Message.of(payload)).whenComplete((Receipt r, Throwable e) -> {
                if (e != null) {
                    failed.incrementAndGet();
                }
                acked.increment();
                done.countDown();
            });
        }
        done.await();
        Result r = Result.of(n, t0, cpu0);
        progress.stop();
        if (failed.get() > 0) {
            out.printf("  (sluice publish: %,d failed)%n", failed.get());
        }
        out.printf("sluice publish: %,.0f msg/s%n", r.rate());
        return r;
    }

    // ------------------------------------------------------------------ consume

    private Result rawConsume(JetStream js, JetStreamManagement jsm, int n, String durable) throws Exception {
        jsm.addOrUpdateConsumer("rawbench", ConsumerConfiguration.builder().durable(durable)
                .ackPolicy(AckPolicy.Explicit).maxAckPending(maxInFlight).build());
        JetStreamSubscription sub = js.subscribe(null, PullSubscribeOptions.bind("rawbench", durable));
        LongAdder count = new LongAdder();
        Progress progress = new Progress("raw consume", count::sum, n);
        long cpu0 = CpuClock.processCpuNanos();
        long t0 = System.nanoTime();
        int received = 0;
        while (received < n) {
            List<io.nats.client.Message> batch = sub.fetch(Math.min(256, n - received), Duration.ofSeconds(1));
            for (io.nats.client.Message m : batch) {
                m.ack();
                received++;
            }
            count.add(batch.size());
        }
        Result r = Result.of(n, t0, cpu0);
        progress.stop();
        sub.unsubscribe();
        out.printf("raw jnats consume: %,.0f msg/s%n", r.rate());
        return r;
    }

    private Result sluiceConsume(Sluice sluice, String topic, int n, String group) throws Exception {
        LongAdder count = new LongAdder();
        CountDownLatch done = new CountDownLatch(1);
        Progress progress = new Progress("sluice consume", count::sum, n);
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
        progress.stop();
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
        Progress progress = new Progress("key-ordered consume", count::sum, orderedMessages);
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
        progress.stop();
        sub.close();
        out.printf("key-ordered consume: %,.0f msg/s%n", r.rate());
        return r;
    }

    // ------------------------------------------------------------------ request/reply

    private Result[] requestReply(String url) throws Exception {
        NatsSettings core = NatsSettings.builder().server(url).mode(NatsSettings.Mode.CORE).build();
        try (Connection raw = Nats.connect(url);
             Sluice sluice = Sluice.create(new NatsTransport(core), SluiceConfig.of("nats"))) {
            Dispatcher echo = raw.createDispatcher(m -> raw.publish(m.getReplyTo(), m.getData()));
            echo.subscribe("rawecho");
            raw.flush(Duration.ofSeconds(5));
            NatsRequests rq = NatsRequests.of(sluice);
            NatsRequests.Responder responder = rq.respond("sluiceecho", null,
                    req -> Message.builder().payload(req.payload()).build());

            for (int i = 0; i < Math.min(requests, 2000); i++) { // warm-up
                raw.request("rawecho", payload, Duration.ofSeconds(5));
                rq.request("sluiceecho", Message.of(payload), Duration.ofSeconds(5)).join();
            }
            LongAdder count = new LongAdder();
            Progress progress = new Progress("raw request/reply", count::sum, requests);
            long cpu0 = CpuClock.processCpuNanos();
            long t0 = System.nanoTime();
            for (int i = 0; i < requests; i++) {
                if (raw.request("rawecho", payload, Duration.ofSeconds(5)) == null) {
                    throw new IllegalStateException("raw request timed out");
                }
                count.increment();
            }
            Result rawResult = Result.of(requests, t0, cpu0);
            progress.stop();
            out.printf("raw jnats request/reply: %,.0f round trips/s%n", rawResult.rate());

            LongAdder count2 = new LongAdder();
            progress = new Progress("sluice request/reply", count2::sum, requests);
            cpu0 = CpuClock.processCpuNanos();
            t0 = System.nanoTime();
            for (int i = 0; i < requests; i++) {
                rq.request("sluiceecho", Message.of(payload), Duration.ofSeconds(5)).join();
                count2.increment();
            }
            Result sluiceResult = Result.of(requests, t0, cpu0);
            progress.stop();
            out.printf("sluice request/reply: %,.0f round trips/s%n", sluiceResult.rate());
            responder.close();
            raw.closeDispatcher(echo);
            return new Result[]{rawResult, sluiceResult};
        }
    }

    // ------------------------------------------------------------------ helpers

    private record Result(long messages, long nanos, long cpuNanos) {
        static Result of(long messages, long t0, long cpu0) {
            return new Result(messages, System.nanoTime() - t0, CpuClock.processCpuNanos() - cpu0);
        }

        double rate() {
            return messages / (nanos / 1e9);
        }

        double cpuMicrosPerMessage() {
            return cpuNanos / 1e3 / messages;
        }
    }

    /** Prints a progress line every second until stopped. */
    private final class Progress {
        private final Thread thread;

        Progress(String label, LongSupplier done, long total) {
            long start = System.nanoTime();
            this.thread = Thread.ofPlatform().daemon(true).name("bench-progress").start(() -> {
                try {
                    while (true) {
                        Thread.sleep(1000);
                        long d = done.getAsLong();
                        out.printf("  %s: %,d / %,d (%.0f msg/s so far)%n", label, d, total,
                                d / ((System.nanoTime() - start) / 1e9));
                    }
                } catch (InterruptedException e) {
                    // stopped
                }
            });
        }

        void stop() {
            thread.interrupt();
        }
    }
}
