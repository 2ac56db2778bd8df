package io.sluice.bench.kafka;

import io.confluent.parallelconsumer.ParallelConsumerOptions;
import io.confluent.parallelconsumer.ParallelStreamProcessor;
import io.sluice.Handler;
import io.sluice.Message;
import io.sluice.Receipt;
import io.sluice.Sluice;
import io.sluice.Subscription;
import io.sluice.bench.Benchmark;
import io.sluice.bench.CpuClock;
import io.sluice.brokers.kafka.KafkaBroker;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.SluiceConfig;
import io.sluice.kafka.KafkaSettings;
import io.sluice.kafka.KafkaTransport;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;

/**
 * {@code sluice bench kafka}: the Kafka transport side by side with the raw Kafka clients and Confluent Parallel
 * Consumer, all in one run against one local single-node KRaft broker that the benchmark starts.
 *
 * <ol>
 *   <li>Publish: the Sluice publisher vs a raw {@link KafkaProducer} with the same settings (idempotent, acks=all,
 *   same linger and batch size), 100 B and 1 KiB payloads; the median of several rounds each.</li>
 *   <li>Consume with zero work: a Sluice subscription vs a raw {@link KafkaConsumer} poll loop; the median of several
 *   rounds each.</li>
 *   <li>Key-ordered consume with a handler that sleeps 2 ms or 20 ms, over 1 or 8 partitions and 1,000 or 10,000
 *   keys: Sluice vs Parallel Consumer (KEY ordering) at equal concurrency and at each one's best of a sweep of
 *   settings, and raw consumers that process each partition sequentially (a thread and a consumer per partition),
 *   each as a ratio to the ideal {@code min(keys, concurrency) / latency}. Each topic is filled once; every client
 *   reads it from the start in a group of its own, and is measured for a fixed window from its first handled
 *   message.</li>
 * </ol>
 *
 * <p>Method. Process CPU is one counter for everything in this JVM, so runs must not leak into each other: every
 * measured run is preceded by a garbage collection and a wait until the process is idle (the previous run's clients
 * closed, its garbage collected), both sides are warmed up with full-size rounds before the first measured round
 * (throughput still doubles over the first few rounds otherwise, this JVM's and the broker's JIT compilers at work),
 * and rounds alternate which side goes first. Every figure comes with the process CPU time per message (the broker runs in a JVM of its own
 * and is not counted).
 */
@Command(name = "kafka", mixinStandardHelpOptions = true,
        description = "Kafka transport vs raw kafka-clients and Parallel Consumer, against a local KRaft broker.")
public final class KafkaBench implements Benchmark {
    @Option(names = "--publish-messages", defaultValue = "200000",
            description = "messages per publish run (default ${DEFAULT-VALUE})")
    int publishMessages;

    @Option(names = "--consume-messages", defaultValue = "300000",
            description = "messages for the zero-work consume runs (default ${DEFAULT-VALUE})")
    int consumeMessages;

    @Option(names = "--concurrency", defaultValue = "100",
            description = "equal concurrency: Sluice maxInFlight and Parallel Consumer maxConcurrency (default ${DEFAULT-VALUE})")
    int concurrency;

    @Option(names = "--sweep", split = ",", defaultValue = "200,400,800,1600",
            description = "further concurrency settings tried for each of Sluice and Parallel Consumer, for each "
                    + "one's best (empty to skip; default ${DEFAULT-VALUE})")
    List<Integer> sweep;

    @Option(names = "--window", defaultValue = "2s",
            description = "how long each key-ordered run is measured (default ${DEFAULT-VALUE})")
    String window;

    @Option(names = "--latencies-ms", split = ",", defaultValue = "2,20", description = "handler latencies")
    List<Integer> latenciesMs;

    @Option(names = "--partitions", split = ",", defaultValue = "1,8", description = "partition counts")
    List<Integer> partitionCounts;

    @Option(names = "--keys", split = ",", defaultValue = "1000,10000", description = "key counts")
    List<Integer> keyCounts;

    @Option(names = "--max-keyed-messages", defaultValue = "300000",
            description = "messages produced for one key-ordered case at most (default ${DEFAULT-VALUE})")
    int maxKeyedMessages;

    @Option(names = "--linger", defaultValue = "5ms", description = "producer linger, both clients (default ${DEFAULT-VALUE})")
    String linger;

    @Option(names = "--batch-size", defaultValue = "16384", description = "producer batch.size in bytes, both clients (default ${DEFAULT-VALUE})")
    int batchSize;

    @Option(names = "--bootstrap-servers", description = "use this broker instead of starting one")
    String bootstrapServers;

    @Option(names = "--max-pending-publishes", defaultValue = "10000",
            description = "Sluice publisher.maxPendingPublishes (default ${DEFAULT-VALUE}, the Sluice default)")
    int maxPendingPublishes;

    @Option(names = "--rounds", defaultValue = "5",
            description = "rounds of the publish and zero-work consume runs, alternating which side goes first; the "
                    + "median of each side counts (default ${DEFAULT-VALUE})")
    int rounds;

    @Option(names = "--warm-up-rounds", defaultValue = "2",
            description = "unmeasured full-size rounds of each side before the measured publish and zero-work consume "
                    + "rounds: the JIT compilers of this JVM and the broker's need about that much (default "
                    + "${DEFAULT-VALUE})")
    int warmUpRounds;

    @Option(names = "--sections", split = ",", defaultValue = "publish,consume,keyed",
            description = "which parts to run (default ${DEFAULT-VALUE})")
    List<String> sections;

    private final PrintStream out = System.out;
    private final List<String> report = new ArrayList<>();
    private String bootstrap;
    private KafkaTransport transport;
    private Sluice sluice;
    private int runs;
    /** How much longer than asked the handlers' sleeps took, per Sluice run at equal concurrency. */
    private final List<Double> slept = new ArrayList<>();

    @Override
    public Integer call() throws Exception {
        long started = System.nanoTime();
        // Client chatter (leader elections of new topics; Parallel Consumer's interrupted threads on close) would bury
        // the progress lines; a user's own -D settings win.
        quiet("org.apache.kafka", "error");
        quiet("io.confluent.parallelconsumer", "off");
        KafkaBroker broker = null;
        if (bootstrapServers == null) {
            out.println("starting a single-node KRaft broker (Kafka 4.3.1, its own JVM) ...");
            broker = KafkaBroker.builder().partitions(8).start();
            bootstrap = broker.bootstrapServers();
        } else {
            bootstrap = bootstrapServers;
        }
        out.printf("sluice bench kafka against %s; JVM %s, %d cores; linger %s, batch.size %,d%n", bootstrap,
                Runtime.version(), Runtime.getRuntime().availableProcessors(), linger, batchSize);
        try {
            transport = new KafkaTransport(KafkaSettings.of(Map.of("bootstrapServers", bootstrap, "linger", linger,
                    "batchSize", batchSize)));
            sluice = Sluice.create(transport, SluiceConfig.of("kafka").withPublisher(
                    io.sluice.config.PublisherOptions.builder().maxPendingPublishes(maxPendingPublishes).build()));
            if (sections.contains("publish")) {
                publishSection();
            }
            if (sections.contains("consume")) {
                consumeSection();
            }
            if (sections.contains("keyed")) {
                keyOrderedSection();
            }
        } finally {
            if (sluice != null) {
                sluice.close();
            }
            if (broker != null) {
                broker.close();
            }
        }
        if (!slept.isEmpty()) {
            report.add(String.format("  a handler's sleep took %.2f-%.2f x its nominal latency in the Sluice runs: the "
                    + "most any consumer can reach is about 1/that of the nominal ideal", slept.stream()
                    .mapToDouble(Double::doubleValue).min().orElse(0), slept.stream().mapToDouble(Double::doubleValue)
                    .max().orElse(0)));
        }
        out.println();
        out.printf("Results (one run, %.0f s)%n", (System.nanoTime() - started) / 1e9);
        report.forEach(out::println);
        return 0;
    }

    // ------------------------------------------------------------------ publish

    private void publishSection() throws Exception {
        out.println();
        out.println("== publish: Sluice publisher vs raw KafkaProducer (idempotent, acks=all) ==");
        report.add("publish, median of " + rounds + " (msg/s, CPU us/msg)        raw KafkaProducer    Sluice publisher    Sluice/raw");
        for (int size : new int[]{100, 1024}) {
            byte[] payload = new byte[size];
            List<Rate> raws = new ArrayList<>();
            List<Rate> sluices = new ArrayList<>();
            for (int round = 1; round <= warmUpRounds; round++) {
                publishRaw(payload, publishMessages, "warm-up " + round + " raw " + size + " B");
                publishSluice(payload, publishMessages, "warm-up " + round + " sluice " + size + " B");
            }
            for (int round = 1; round <= rounds; round++) {
                boolean rawFirst = round % 2 == 1;
                for (int side = 0; side < 2; side++) {
                    quiesce();
                    if ((side == 0) == rawFirst) {
                        raws.add(publishRaw(payload, publishMessages, "round " + round + " raw " + size + " B"));
                    } else {
                        sluices.add(publishSluice(payload, publishMessages, "round " + round + " sluice " + size
                                + " B"));
                    }
                }
            }
            Rate raw = median(raws);
            Rate ours = median(sluices);
            report.add(String.format("  %5d B payload                                  %10s %6.2f  %10s %6.2f   %6.2f x",
                    size, fmt(raw.perSecond), raw.cpuMicros, fmt(ours.perSecond), ours.cpuMicros,
                    ours.perSecond / raw.perSecond));
        }
    }

    private Rate publishRaw(byte[] payload, int count, String label) throws Exception {
        String topic = newTopic("pub-raw", 8);
        Map<String, Object> props = new HashMap<>();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        props.put(ProducerConfig.LINGER_MS_CONFIG, Long.toString(io.sluice.config.Durations.parse("linger", linger).toMillis()));
        props.put(ProducerConfig.BATCH_SIZE_CONFIG, Integer.toString(batchSize));
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props)) {
            // One acknowledged record first: a burst into a topic whose leader is still settling can trip the
            // idempotent producer's retry loop (KAFKA-14359), on both clients alike.
            producer.send(new ProducerRecord<>(topic, payload)).get(60, TimeUnit.SECONDS);
            LongAdder acked = new LongAdder();
            AtomicReference<Exception> failure = new AtomicReference<>();
            long cpu0 = CpuClock.processCpuNanos();
            long t0 = System.nanoTime();
            for (int i = 0; i < count; i++) {
                producer.send(new ProducerRecord<>(topic, payload), (md, e) -> {
                    if (e != null) {
                        failure.set(e);
                    }
                    acked.increment();
                });
            }
            producer.flush();
            while (acked.sum() < count) {
                Thread.onSpinWait();
            }
            Rate r = new Rate(count, System.nanoTime() - t0, CpuClock.processCpuNanos() - cpu0);
            if (failure.get() != null) {
                throw failure.get();
            }
            progress(label, r);
            return r;
        }
    }

    private Rate publishSluice(byte[] payload, int count, String label) throws Exception {
        String topic = newTopic("pub-sluice", 8);
        sluice.publisher().publish(topic, Message.of(payload)).get(60, TimeUnit.SECONDS); // metadata, like partitionsFor
        long cpu0 = CpuClock.processCpuNanos();
        long t0 = System.nanoTime();
        CompletableFuture<Receipt> last = null;
        for (int i = 0; i < count; i++) {
            last = sluice.publisher().publish(topic, Message.of(payload));
        }
        sluice.publisher().flush(Duration.ofMinutes(2));
        last.get(60, TimeUnit.SECONDS);
        Rate r = new Rate(count, System.nanoTime() - t0, CpuClock.processCpuNanos() - cpu0);
        progress(label, r);
        return r;
    }

    // ------------------------------------------------------------------ consume, zero work

    private void consumeSection() throws Exception {
        out.println();
        out.println("== consume with zero work: Sluice subscription vs raw KafkaConsumer poll loop ==");
        String topic = newTopic("consume", 8);
        out.printf("  producing %,d keyed 100 B messages ...%n", consumeMessages);
        produce(topic, consumeMessages, 1000, 100);
        List<Rate> raws = new ArrayList<>();
        List<Rate> sluices = new ArrayList<>();
        for (int round = 1; round <= warmUpRounds; round++) {
            consumeRaw(topic, consumeMessages, "warm-up " + round + " raw poll loop");
            consumeSluice(topic, consumeMessages, "warm-up " + round + " sluice");
        }
        for (int round = 1; round <= rounds; round++) {
            boolean rawFirst = round % 2 == 1;
            for (int side = 0; side < 2; side++) {
                quiesce();
                if ((side == 0) == rawFirst) {
                    raws.add(consumeRaw(topic, consumeMessages, "round " + round + " raw poll loop"));
                } else {
                    sluices.add(consumeSluice(topic, consumeMessages, "round " + round + " sluice"));
                }
            }
        }
        Rate raw = median(raws);
        Rate ours = median(sluices);
        report.add("");
        report.add("consume, zero work, median of " + rounds + " (msg/s, CPU us/msg) raw poll loop     Sluice              Sluice/raw");
        report.add(String.format("  8 partitions, 1,000 keys, 100 B                 %10s %6.2f  %10s %6.2f   %6.2f x",
                fmt(raw.perSecond), raw.cpuMicros, fmt(ours.perSecond), ours.cpuMicros, ours.perSecond / raw.perSecond));
    }

    private Rate consumeRaw(String topic, int count, String label) {
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(consumerProps("raw-" + (++runs)))) {
            consumer.subscribe(List.of(topic));
            long seen = 0;
            long t0 = 0;
            long cpu0 = 0;
            while (seen < count) {
                ConsumerRecords<byte[], byte[]> records = consumer.poll(Duration.ofMillis(100));
                if (t0 == 0 && !records.isEmpty()) {
                    t0 = System.nanoTime();
                    cpu0 = CpuClock.processCpuNanos();
                }
                seen += records.count();
            }
            Rate r = new Rate(count, System.nanoTime() - t0, CpuClock.processCpuNanos() - cpu0);
            progress(label, r);
            return r;
        }
    }

    private Rate consumeSluice(String topic, int count, String label) throws Exception {
        Meter meter = new Meter();
        Subscription sub = sluice.subscribe(topic, "sluice-" + (++runs), m -> meter.tick(),
                ConsumerOptions.builder().build());
        Rate r = meter.await(count, Duration.ofMinutes(5));
        sub.close(Duration.ofSeconds(5));
        progress(label, r);
        return r;
    }

    // ------------------------------------------------------------------ key-ordered consume

    private void keyOrderedSection() throws Exception {
        Duration measured = io.sluice.config.Durations.parse("window", window);
        List<Integer> settings = new ArrayList<>(List.of(concurrency));
        for (int c : sweep) {
            if (c > 0 && !settings.contains(c)) {
                settings.add(c);
            }
        }
        out.println();
        out.printf("== key-ordered consume: Sluice vs Parallel Consumer (KEY) vs raw sequential-per-partition; "
                + "equal concurrency %d, sweep %s; %s windows ==%n", concurrency, settings, window);
        report.add("");
        report.add("key-ordered consume (msg/s; x ideal; CPU us/msg). ideal = min(keys, concurrency) / latency; "
                + "'best' = each one's fastest of concurrency " + settings);
        report.add(String.format("  %-22s %9s | %-24s %-24s %7s | %-27s %-27s | %-22s",
                "latency/partitions/keys", "ideal", "Sluice @" + concurrency, "PC @" + concurrency, "S/PC",
                "Sluice best", "PC best", "raw per-partition"));
        List<String> sweepLines = new ArrayList<>();
        sweepLines.add("");
        sweepLines.add("key-ordered sweep (msg/s at each concurrency " + settings + ")");
        boolean warmedUp = false;
        int caseNumber = 0;
        for (int latency : latenciesMs) {
            for (int partitions : partitionCounts) {
                for (int keys : keyCounts) {
                    int top = settings.stream().mapToInt(Integer::intValue).max().orElse(concurrency);
                    double idealTop = Math.min(keys, top) * 1000.0 / latency;
                    int messages = (int) Math.max(2000, Math.min(maxKeyedMessages, idealTop * measured.toMillis() / 1000.0 * 1.2));
                    String topic = newTopic("keyed-" + latency + "ms-" + partitions + "p-" + keys + "k", partitions);
                    out.printf("%n  %d ms, %d partition(s), %,d keys: producing %,d messages ...%n", latency, partitions,
                            keys, messages);
                    produce(topic, messages, keys, 64);
                    if (!warmedUp) {
                        sluiceKeyed(topic, messages, latency, concurrency, Duration.ofSeconds(1), "warm-up sluice");
                        parallelConsumer(topic, messages, latency, concurrency, Duration.ofSeconds(1), "warm-up parallel consumer");
                        warmedUp = true;
                    }
                    // Alternate which client goes first, case by case.
                    boolean sluiceFirst = caseNumber++ % 2 == 0;
                    Map<Integer, Rate> sluiceAt = new java.util.LinkedHashMap<>();
                    Map<Integer, Rate> pcAt = new java.util.LinkedHashMap<>();
                    for (int c : settings) {
                        for (int side = 0; side < 2; side++) {
                            quiesce();
                            if ((side == 0) == sluiceFirst) {
                                sluiceAt.put(c, sluiceKeyed(topic, messages, latency, c, measured, "sluice @" + c));
                            } else {
                                pcAt.put(c, parallelConsumer(topic, messages, latency, c, measured,
                                        "parallel consumer @" + c));
                            }
                        }
                    }
                    quiesce();
                    Rate raw = rawSequential(topic, messages, latency, partitions, measured, "raw sequential per partition");
                    Rate s = sluiceAt.get(concurrency);
                    Rate pc = pcAt.get(concurrency);
                    int sBestAt = fastest(sluiceAt);
                    int pcBestAt = fastest(pcAt);
                    double ideal = Math.min(keys, concurrency) * 1000.0 / latency;
                    slept.add(s.handlerMillis / latency);
                    String label = latency + " ms / " + partitions + " p / " + keys + " k";
                    report.add(String.format("  %-22s %9s | %-24s %-24s %6.2fx | %-27s %-27s | %-22s",
                            label, fmt(ideal), cell(s, ideal), cell(pc, ideal), s.perSecond / pc.perSecond,
                            cell(sluiceAt.get(sBestAt), Math.min(keys, sBestAt) * 1000.0 / latency) + "@" + sBestAt,
                            cell(pcAt.get(pcBestAt), Math.min(keys, pcBestAt) * 1000.0 / latency) + "@" + pcBestAt,
                            cell(raw, ideal)));
                    sweepLines.add(String.format("  %-22s Sluice %s | PC %s", label, rates(sluiceAt), rates(pcAt)));
                }
            }
        }
        report.addAll(sweepLines);
    }

    private static int fastest(Map<Integer, Rate> byConcurrency) {
        return byConcurrency.entrySet().stream()
                .max(java.util.Comparator.comparingDouble(e -> e.getValue().perSecond)).orElseThrow().getKey();
    }

    private static String rates(Map<Integer, Rate> byConcurrency) {
        StringBuilder b = new StringBuilder();
        byConcurrency.forEach((c, r) -> b.append(String.format("%8s", fmt(r.perSecond))));
        return b.toString();
    }

    private static String cell(Rate r, double ideal) {
        return String.format("%s %.2fx %.1fus", fmt(r.perSecond), r.perSecond / ideal, r.cpuMicros);
    }

    private Rate sluiceKeyed(String topic, int messages, int latencyMs, int maxInFlight, Duration window, String label)
            throws Exception {
        Meter meter = new Meter();
        Handler handler = m -> meter.work(latencyMs);
        Subscription sub = sluice.subscribe(topic, "sluice-" + (++runs), handler,
                ConsumerOptions.builder().maxInFlight(maxInFlight).build());
        Rate r = meter.await(messages, window);
        sub.close(Duration.ofSeconds(10));
        progress(label, r);
        return r;
    }

    private Rate parallelConsumer(String topic, int messages, int latencyMs, int maxConcurrency, Duration window,
                                  String label) throws Exception {
        Meter meter = new Meter();
        KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(consumerProps("pc-" + (++runs)));
        ParallelConsumerOptions<byte[], byte[]> options = ParallelConsumerOptions.<byte[], byte[]>builder()
                .consumer(consumer)
                .ordering(ParallelConsumerOptions.ProcessingOrder.KEY)
                .maxConcurrency(maxConcurrency)
                .commitMode(ParallelConsumerOptions.CommitMode.PERIODIC_CONSUMER_ASYNCHRONOUS)
                .build();
        ParallelStreamProcessor<byte[], byte[]> pc = ParallelStreamProcessor.createEosStreamProcessor(options);
        pc.subscribe(List.of(topic));
        pc.poll(context -> {
            try {
                meter.work(latencyMs);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
            for (int i = 1; i < context.size(); i++) {
                meter.tick();
            }
        });
        Rate r = meter.await(messages, window);
        pc.closeDontDrainFirst(Duration.ofSeconds(10));
        progress(label, r);
        return r;
    }

    /**
     * The plain way to process partitions in parallel and each in order: one thread and one {@link KafkaConsumer}
     * per partition (manually assigned), handling records one after another and committing after each poll.
     */
    private Rate rawSequential(String topic, int messages, int latencyMs, int partitions, Duration window, String label)
            throws Exception {
        Meter meter = new Meter();
        String group = "raw-seq-" + (++runs);
        List<Thread> workers = new ArrayList<>();
        for (int p = 0; p < partitions; p++) {
            TopicPartition tp = new TopicPartition(topic, p);
            workers.add(Thread.ofPlatform().name("raw-partition-" + p).start(() -> {
                try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(consumerProps(group))) {
                    consumer.assign(List.of(tp));
                    consumer.seekToBeginning(List.of(tp));
                    while (!meter.done(messages, window)) {
                        ConsumerRecords<byte[], byte[]> records = consumer.poll(Duration.ofMillis(100));
                        for (ConsumerRecord<byte[], byte[]> r : records) {
                            if (meter.done(messages, window)) {
                                break;
                            }
                            meter.work(latencyMs);
                        }
                        consumer.commitAsync();
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }));
        }
        Rate r = meter.await(messages, window);
        for (Thread t : workers) {
            t.join(TimeUnit.SECONDS.toMillis(30));
        }
        progress(label, r);
        return r;
    }

    // ------------------------------------------------------------------ helpers

    private Map<String, Object> consumerProps(String group) {
        Map<String, Object> p = new HashMap<>();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
        return p;
    }

    /**
     * Creates a topic and waits until every partition's leader answers: an idempotent producer bursting into a
     * partition whose leader is still settling can get stuck retrying (KAFKA-14359), raw client and Sluice alike.
     */
    private String newTopic(String prefix, int partitions) throws Exception {
        String topic = "bench-" + prefix + "-" + Long.toHexString(System.nanoTime());
        transport.admin().createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all()
                .get(60, TimeUnit.SECONDS);
        Map<TopicPartition, org.apache.kafka.clients.admin.OffsetSpec> all = new HashMap<>();
        for (int p = 0; p < partitions; p++) {
            all.put(new TopicPartition(topic, p), org.apache.kafka.clients.admin.OffsetSpec.latest());
        }
        long giveUp = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (true) {
            try {
                transport.admin().listOffsets(all).all().get(60, TimeUnit.SECONDS);
                return topic;
            } catch (java.util.concurrent.ExecutionException e) {
                if (System.nanoTime() > giveUp) {
                    throw e;
                }
                Thread.sleep(50);
            }
        }
    }

    /** Fills {@code topic} with keyed messages through a raw producer (not measured). */
    private void produce(String topic, int count, int keys, int size) throws Exception {
        Map<String, Object> props = new HashMap<>();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ProducerConfig.LINGER_MS_CONFIG, "10");
        props.put(ProducerConfig.BATCH_SIZE_CONFIG, "262144");
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
        byte[] payload = new byte[size];
        byte[][] keyBytes = new byte[keys][];
        for (int k = 0; k < keys; k++) {
            keyBytes[k] = ("key-" + k).getBytes(StandardCharsets.UTF_8);
        }
        Semaphore window = new Semaphore(50_000);
        AtomicReference<Exception> failure = new AtomicReference<>();
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props)) {
            producer.send(new ProducerRecord<>(topic, keyBytes[0], payload)).get(60, TimeUnit.SECONDS);
            for (int i = 1; i < count; i++) {
                window.acquire();
                producer.send(new ProducerRecord<>(topic, keyBytes[i % keys], payload), (md, e) -> {
                    if (e != null) {
                        failure.set(e);
                    }
                    window.release();
                });
            }
            producer.flush();
        }
        if (failure.get() != null) {
            throw failure.get();
        }
    }

    /**
     * Starts a measured run from a quiet process: collects the garbage of earlier runs (so it is not billed to this
     * one), then waits until the process uses less than 5 % of a core over 200 ms (the previous run's clients have
     * closed and its threads have ended), for 10 s at most.
     */
    private void quiesce() throws InterruptedException {
        System.gc();
        long giveUp = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < giveUp) {
            long cpu0 = CpuClock.processCpuNanos();
            long t0 = System.nanoTime();
            Thread.sleep(200);
            long used = CpuClock.processCpuNanos() - cpu0;
            if (used < (System.nanoTime() - t0) / 20) {
                return;
            }
        }
        out.println("  (process still busy after 10 s of waiting to go quiet; measuring anyway)");
    }

    private void progress(String label, Rate r) {
        out.printf("  %-34s %,10d msg in %6.2f s = %,10.0f msg/s, CPU %6.2f us/msg%s%n", label, r.messages,
                r.nanos / 1e9, r.perSecond, r.cpuMicros,
                r.handlerMillis > 0 ? String.format(", handler sleep took %.2f ms", r.handlerMillis) : "");
    }

    private static void quiet(String logger, String level) {
        String key = "org.slf4j.simpleLogger.log." + logger;
        if (System.getProperty(key) == null) {
            System.setProperty(key, level);
        }
    }

    /** The run with the median throughput: robust against a round disturbed by other work on the machine. */
    private static Rate median(List<Rate> rates) {
        List<Rate> sorted = new ArrayList<>(rates);
        sorted.sort(java.util.Comparator.comparingDouble(Rate::perSecond));
        return sorted.get(sorted.size() / 2);
    }

    private static String fmt(double perSecond) {
        return String.format("%,.0f", perSecond);
    }

    /** Throughput of one run and its process CPU per message. */
    private record Rate(long messages, long nanos, double perSecond, double cpuMicros, double handlerMillis) {
        Rate(long messages, long nanos, long cpuNanos) {
            this(messages, nanos, cpuNanos, 0);
        }

        Rate(long messages, long nanos, long cpuNanos, double handlerMillis) {
            this(messages, Math.max(1, nanos), messages / (Math.max(1, nanos) / 1e9),
                    messages == 0 ? 0 : cpuNanos / 1e3 / messages, handlerMillis);
        }
    }

    /** Counts handled messages from any thread; the clock starts at the first one. */
    private static final class Meter {
        private final LongAdder count = new LongAdder();
        private final LongAdder handlerNanos = new LongAdder();
        private final AtomicLong startNanos = new AtomicLong();
        private volatile long startCpu;
        private volatile long endNanos;
        private volatile long endCpu;
        private volatile long endCount;

        void tick() {
            if (startNanos.get() == 0 && startNanos.compareAndSet(0, System.nanoTime())) {
                startCpu = CpuClock.processCpuNanos();
            }
            count.increment();
        }

        /** Sleeps {@code millis} as the handler's work and counts the message with the time the sleep really took. */
        void work(long millis) throws InterruptedException {
            long t0 = System.nanoTime();
            Thread.sleep(millis);
            handlerNanos.add(System.nanoTime() - t0);
            tick();
        }

        boolean done(int messages, Duration window) {
            if (endNanos != 0) {
                return true;
            }
            long start = startNanos.get();
            long now = System.nanoTime();
            long n = count.sum();
            if (n >= messages || (start != 0 && now - start >= window.toNanos())) {
                endCpu = CpuClock.processCpuNanos();
                endCount = n;
                endNanos = now;
                return true;
            }
            return false;
        }

        /** Waits until {@code messages} were counted or {@code window} passed since the first. */
        Rate await(int messages, Duration window) throws InterruptedException {
            long giveUp = System.nanoTime() + window.toNanos() + TimeUnit.SECONDS.toNanos(60);
            while (!done(messages, window)) {
                if (System.nanoTime() > giveUp) {
                    throw new IllegalStateException("no progress: " + count.sum() + " of " + messages + " handled");
                }
                Thread.sleep(5);
            }
            return result();
        }

        Rate result() {
            if (endNanos == 0) {
                done(0, Duration.ZERO);
            }
            long n = count.sum();
            return new Rate(endCount, endNanos - startNanos.get(), endCpu - startCpu,
                    n == 0 ? 0 : handlerNanos.sum() / 1e6 / n);
        }
    }
}
