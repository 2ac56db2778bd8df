package io.sluice.bench.engine;

import io.sluice.DeliveryObserver;
import io.sluice.Handler;
import io.sluice.Message;
import io.sluice.Receipt;
import io.sluice.Sluice;
import io.sluice.Subscription;
import io.sluice.bench.Benchmark;
import io.sluice.bench.CpuClock;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.SluiceConfig;
import io.sluice.memory.MemoryTransport;
import org.HdrHistogram.Histogram;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;

/**
 * {@code sluice bench engine}: the consumer engine alone, on the memory transport. A backlog of keyed messages is
 * consumed by one subscription whose handler sleeps a fixed latency; throughput is reported against the ideal
 * {@code min(keys, maxInFlight) / latency} and against a plain sequential loop calling the same handler, both
 * measured in this run. A second pass with a handler that does nothing gives the engine's own cost: process CPU time
 * per message.
 */
@Command(name = "engine", mixinStandardHelpOptions = true,
        description = "Key-ordered engine throughput vs the ideal and a sequential loop (memory transport).")
public final class EngineBench implements Benchmark {
    @Option(names = "--messages", defaultValue = "1000000", description = "messages in the measured run (default ${DEFAULT-VALUE})")
    int messages;

    @Option(names = "--keys", defaultValue = "10000", description = "distinct keys (default ${DEFAULT-VALUE})")
    int keys;

    @Option(names = "--partitions", defaultValue = "1", description = "partitions of the topic (default ${DEFAULT-VALUE})")
    int partitions;

    @Option(names = "--latency-us", defaultValue = "2000", description = "handler latency in microseconds (default ${DEFAULT-VALUE})")
    long latencyMicros;

    @Option(names = "--max-in-flight", defaultValue = "1000", description = "consumer.maxInFlight (default ${DEFAULT-VALUE})")
    int maxInFlight;

    @Option(names = "--sequential-messages", defaultValue = "500",
            description = "messages for the sequential-loop baseline (default ${DEFAULT-VALUE})")
    int sequentialMessages;

    @Option(names = "--zero-work-messages", defaultValue = "1000000",
            description = "messages for the zero-work pass that measures engine CPU (default ${DEFAULT-VALUE})")
    int zeroWorkMessages;

    private final PrintStream out = System.out;

    @Override
    public Integer call() throws Exception {
        long latencyNanos = TimeUnit.MICROSECONDS.toNanos(latencyMicros);
        out.printf("sluice bench engine: %,d messages, %,d keys, %d partition(s), handler %d us, maxInFlight %,d%n",
                messages, keys, partitions, latencyMicros, maxInFlight);
        out.printf("JVM %s, %d cores%n", Runtime.version(), Runtime.getRuntime().availableProcessors());

        Handler sleeping = m -> TimeUnit.NANOSECONDS.sleep(latencyNanos);
        out.println("warm-up ...");
        run("warm-up", Math.min(messages, 200_000), sleeping, false);
        run("warm-up (zero work)", Math.min(zeroWorkMessages, 200_000), m -> { }, false);

        Result keyed = run("keyed, sleeping handler", messages, sleeping, true);
        Result zero = run("keyed, zero-work handler", zeroWorkMessages, m -> { }, true);
        double sequential = sequentialRate(sleeping);

        double ideal = Math.min(keys, maxInFlight) / (latencyNanos / 1e9);
        out.println();
        out.println("Results");
        out.printf("  ideal min(keys, maxInFlight)/latency   %,12.0f msg/s%n", ideal);
        out.printf("  sluice engine                          %,12.0f msg/s   %.3f x ideal   %,.1f x sequential%n",
                keyed.rate, keyed.rate / ideal, keyed.rate / sequential);
        out.printf("  sequential loop, same handler          %,12.0f msg/s%n", sequential);
        out.printf("  fetch-to-finish latency                p50 %.2f ms  p99 %.2f ms  p99.9 %.2f ms  max %.2f ms%n",
                keyed.latency.getValueAtPercentile(50) / 1e6, keyed.latency.getValueAtPercentile(99) / 1e6,
                keyed.latency.getValueAtPercentile(99.9) / 1e6, keyed.latency.getMaxValue() / 1e6);
        out.printf("  CPU per message, sleeping handler      %.2f us (process CPU / messages)%n", keyed.cpuMicrosPerMessage);
        out.printf("  zero-work handler                      %,12.0f msg/s   CPU per message %.2f us%n", zero.rate,
                zero.cpuMicrosPerMessage);
        return 0;
    }

    private record Result(double rate, double cpuMicrosPerMessage, Histogram latency) {
    }

    private Result run(String label, int count, Handler handler, boolean report) throws Exception {
        MemoryTransport transport = new MemoryTransport(partitions, 1 << 20);
        try (Sluice sluice = Sluice.create(transport, SluiceConfig.of("memory"))) {
            String topic = "bench-engine";
            prefill(sluice, topic, count, report ? label : null);
            LongAdder done = new LongAdder();
            Histogram latency = new Histogram(TimeUnit.SECONDS.toNanos(60), 3);
            DeliveryObserver observer = new DeliveryObserver() {
                @Override
                public void finished(long latencyNanos, boolean deadLettered) {
                    latency.recordValue(Math.min(latencyNanos, latency.getHighestTrackableValue()));
                }
            };
            ConsumerOptions options = ConsumerOptions.builder().maxInFlight(maxInFlight).build();
            Handler counting = m -> {
                handler.handle(m);
                done.increment();
            };
            System.gc();
            long cpu0 = CpuClock.processCpuNanos();
            long t0 = System.nanoTime();
            Subscription sub = sluice.subscribe(topic, "bench", counting, options, observer);
            long lastPrint = t0;
            while (done.sum() < count) {
                Thread.sleep(20);
                long now = System.nanoTime();
                if (report && now - lastPrint > TimeUnit.SECONDS.toNanos(1)) {
                    out.printf("  %s: %,d / %,d handled%n", label, done.sum(), count);
                    lastPrint = now;
                }
            }
            long elapsed = System.nanoTime() - t0;
            long cpu = CpuClock.processCpuNanos() - cpu0;
            sub.close();
            double rate = count / (elapsed / 1e9);
            if (report) {
                out.printf("  %s: %,d messages in %.2f s = %,.0f msg/s%n", label, count, elapsed / 1e9, rate);
            }
            return new Result(rate, cpu / 1e3 / count, latency);
        }
    }

    private void prefill(Sluice sluice, String topic, int count, String label) {
        if (label != null) {
            out.printf("  %s: publishing %,d messages ...%n", label, count);
        }
        byte[] payload = new byte[100];
        List<CompletableFuture<Receipt>> pending = new ArrayList<>(10_000);
        for (int i = 0; i < count; i++) {
            Message m = Message.builder().key("key-" + (i % keys)).payload(payload).build();
            pending.add(sluice.publisher().publish(topic, m));
            if (pending.size() == 10_000) {
                CompletableFuture.allOf(pending.toArray(new CompletableFuture[0])).join();
                pending.clear();
            }
        }
        CompletableFuture.allOf(pending.toArray(new CompletableFuture[0])).join();
    }

    /** The same handler called in a plain loop, one message after another. */
    private double sequentialRate(Handler handler) throws Exception {
        Message m = Message.builder().key("key-0").payload(new byte[100]).build();
        long t0 = System.nanoTime();
        for (int i = 0; i < sequentialMessages; i++) {
            handler.handle(m);
        }
        double rate = sequentialMessages / ((System.nanoTime() - t0) / 1e9);
        out.printf("  sequential loop: %,d messages, %,.0f msg/s%n", sequentialMessages, rate);
        return rate;
    }
}
