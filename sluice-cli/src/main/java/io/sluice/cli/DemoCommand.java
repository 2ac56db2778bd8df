package io.sluice.cli;

import io.sluice.DeadLetters;
import io.sluice.DeliveryObserver;
import io.sluice.Message;
import io.sluice.Publisher;
import io.sluice.Sluice;
import io.sluice.Subscription;
import io.sluice.SubscriptionStats;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.RetryPolicy;
import io.sluice.config.SluiceConfig;
import io.sluice.observability.SluiceMetrics;
import org.HdrHistogram.Histogram;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * {@code sluice demo}: a producer and a consumer group of three on the default transport, with a handler that
 * behaves like a call to a flaky service. Shows live progress, then checks its own outcome: every message handled or
 * dead-lettered as designed, and per-key order kept. Exits 0 only if that check passes.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Runs a producer and a consumer group of 3 with retries and dead letters, and checks the outcome.")
final class DemoCommand implements Callable<Integer> {
    static final String TOPIC = "demo.orders";
    static final String GROUP = "demo-fulfilment";

    @Option(names = "--config", description = "sluice.yaml to use instead of the built-in demo configuration")
    Path config;

    @Option(names = "--data", defaultValue = "sluice-data",
            description = "directory of the embedded log when no --config is given (default ${DEFAULT-VALUE})")
    Path data;

    @Option(names = "--messages", defaultValue = "30000", description = "orders to publish (default ${DEFAULT-VALUE})")
    int messages;

    @Option(names = "--keys", defaultValue = "300", description = "distinct customers, the ordering keys (default ${DEFAULT-VALUE})")
    int keys;

    @Option(names = "--transient-failure-percent", defaultValue = "5",
            description = "orders whose first attempts fail transiently, in percent (default ${DEFAULT-VALUE})")
    int transientPercent;

    @Option(names = "--poison", defaultValue = "12",
            description = "orders that always fail and must end on the dead-letter topic (default ${DEFAULT-VALUE})")
    int poison;

    @Option(names = "--metrics-port", description = "serve Prometheus metrics (sluice.*) on 127.0.0.1:PORT/metrics "
            + "while the demo runs; 0 picks a free port")
    Integer metricsPort;

    @Option(names = "--max-seconds", defaultValue = "60", description = "give up after this long (default ${DEFAULT-VALUE})")
    int maxSeconds;

    private final PrintStream out = System.out;

    @Override
    public Integer call() throws Exception {
        SluiceConfig cfg = config != null ? SluiceConfig.load(config) : DemoSettings.defaultConfig(data);
        ConsumerOptions options = cfg.consumer().toBuilder()
                .maxInFlight(64)
                .retry(RetryPolicy.builder().initialDelay(Duration.ofMillis(20)).maxDelay(Duration.ofMillis(200))
                        .maxAttempts(DemoWorkload.MAX_ATTEMPTS).build())
                .handlerTimeout(Duration.ofSeconds(5))
                .shutdownTimeout(Duration.ofSeconds(10))
                .build();
        DemoWorkload workload = new DemoWorkload(messages, keys, transientPercent, poison);
        long started = System.nanoTime();
        MetricsEndpoint metrics = metricsPort == null ? null : new MetricsEndpoint(metricsPort);
        SluiceMetrics meters = metrics == null ? null : SluiceMetrics.of(metrics.registry());
        Sluice.Builder client = Sluice.builder().config(cfg);
        if (meters != null) {
            client.instrumentation(meters);
            out.printf("Metrics: %s%n", metrics.url());
        }
        try (AutoCloseable stopMetrics = () -> { // closed after the client, whose end removes the consume meters
            if (metrics != null) {
                meters.close();
                metrics.close();
            }
        }; Sluice sluice = client.build()) {
            out.printf("Sluice demo on transport '%s': %s%n", cfg.transport(), DemoSettings.describe(sluice));
            out.printf("%,d orders for %,d customers; %d%% fail transiently at first; %d are poison and go to %s%n",
                    messages, keys, transientPercent, poison, DeadLetters.defaultTopic(TOPIC));

            Subscription deadLetters = sluice.subscribe(DeadLetters.defaultTopic(TOPIC), GROUP + "-audit",
                    workload::deadLetter, options);
            List<Subscription> workers = new ArrayList<>();
            List<Histogram> latencies = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                Histogram h = new Histogram(TimeUnit.MINUTES.toNanos(5), 3);
                latencies.add(h);
                workers.add(sluice.subscribe(TOPIC, GROUP, workload::handle, options, new DeliveryObserver() {
                    @Override
                    public void finished(long latencyNanos, boolean deadLettered) {
                        h.recordValue(Math.min(latencyNanos, h.getHighestTrackableValue()));
                    }
                }));
            }
            CompletableFuture<Void> producer = CompletableFuture.runAsync(() -> publishAll(sluice.publisher(), workload),
                    r -> Thread.ofVirtual().name("demo-producer").start(r));

            Progress progress = new Progress(out, workers, workload, started);
            long deadline = started + TimeUnit.SECONDS.toNanos(maxSeconds);
            while (!workload.isComplete() && System.nanoTime() < deadline) {
                Thread.sleep(250);
                progress.print(false);
                if (producer.isCompletedExceptionally()) {
                    break;
                }
            }
            progress.print(true);
            boolean timedOut = !workload.isComplete();
            for (Subscription s : workers) {
                s.close(Duration.ofSeconds(10));
            }
            deadLetters.close(Duration.ofSeconds(5));
            producer.exceptionally(e -> {
                workload.violation("producer failed: " + e);
                return null;
            }).join();

            Histogram all = new Histogram(TimeUnit.MINUTES.toNanos(5), 3);
            latencies.forEach(all::add);
            return summarize(workload, workers, all, started, timedOut);
        }
    }

    private void publishAll(Publisher publisher, DemoWorkload workload) {
        List<CompletableFuture<?>> pending = new ArrayList<>();
        for (int i = 0; i < messages; i++) {
            Message m = workload.order(i);
            pending.add(publisher.publish(TOPIC, m).thenAccept(workload::published));
            if (pending.size() >= 1000) {
                CompletableFuture.allOf(pending.toArray(new CompletableFuture[0])).join();
                pending.clear();
            }
        }
        CompletableFuture.allOf(pending.toArray(new CompletableFuture[0])).join();
    }

    private int summarize(DemoWorkload w, List<Subscription> workers, Histogram latency, long started,
                          boolean timedOut) {
        double seconds = (System.nanoTime() - started) / 1e9;
        long handled = 0;
        long retried = 0;
        long deadLettered = 0;
        for (Subscription s : workers) {
            SubscriptionStats st = s.stats();
            handled += st.handled();
            retried += st.retried();
            deadLettered += st.deadLettered();
        }
        out.println();
        out.println("Summary");
        out.printf("  published            %,d%n", w.publishedCount());
        out.printf("  handled              %,d (%,d distinct; redelivered %,d)%n", handled, w.handledDistinct(),
                Math.max(0, handled - w.handledDistinct()));
        out.printf("  retried attempts     %,d%n", retried);
        if (w.fromEarlierRuns() > 0) {
            out.printf("  from earlier runs    %,d orders an interrupted earlier run left unfinished, handled now%n",
                    w.fromEarlierRuns());
        }
        out.printf("  dead-lettered        %,d confirmed by the workers, %,d read back from %s%n", deadLettered,
                w.deadLettersSeen(), DeadLetters.defaultTopic(TOPIC));
        out.printf("  time                 %.1f s, %,.0f orders/s%n", seconds, w.publishedCount() / seconds);
        out.printf("  fetch-to-finish      p50 %.1f ms, p99 %.1f ms, max %.1f ms%n",
                latency.getValueAtPercentile(50) / 1e6, latency.getValueAtPercentile(99) / 1e6,
                latency.getMaxValue() / 1e6);
        Map<String, Long> perWorker = new java.util.LinkedHashMap<>();
        for (int i = 0; i < workers.size(); i++) {
            perWorker.put("worker-" + (i + 1), workers.get(i).stats().received());
        }
        out.printf("  received per worker  %s%n", perWorker);

        List<String> problems = w.check();
        if (timedOut) {
            problems = new ArrayList<>(problems);
            problems.add(0, "did not finish within " + maxSeconds + " s");
        }
        if (problems.isEmpty()) {
            out.println("Check passed: every order handled or dead-lettered as designed, per-customer order kept.");
            return 0;
        }
        out.println("Check FAILED:");
        problems.stream().limit(20).forEach(p -> out.println("  - " + p));
        return 1;
    }

    /** The live progress line: in place on a terminal, one line a second otherwise. */
    private static final class Progress {
        private final PrintStream out;
        private final List<Subscription> workers;
        private final DemoWorkload workload;
        private final boolean terminal = System.console() != null;
        private long lastHandled;
        private long lastNanos;
        private long lastPrinted;

        Progress(PrintStream out, List<Subscription> workers, DemoWorkload workload, long started) {
            this.out = out;
            this.workers = workers;
            this.workload = workload;
            this.lastNanos = started;
        }

        void print(boolean last) {
            long now = System.nanoTime();
            if (!terminal && !last && now - lastPrinted < TimeUnit.SECONDS.toNanos(1)) {
                return;
            }
            long handled = 0;
            long retried = 0;
            long dead = 0;
            int inFlight = 0;
            for (Subscription s : workers) {
                SubscriptionStats st = s.stats();
                handled += st.handled();
                retried += st.retried();
                dead += st.deadLettered();
                inFlight += st.inFlight();
            }
            double rate = (handled - lastHandled) / Math.max(1e-9, (now - lastNanos) / 1e9);
            lastHandled = handled;
            lastNanos = now;
            lastPrinted = now;
            String line = String.format("published %,7d | handled %,7d | retried %,5d | dead-lettered %,3d | "
                    + "in flight %,4d | %,8.0f msg/s", workload.publishedCount(), handled, retried, dead, inFlight, rate);
            if (terminal) {
                out.print("\r" + line + (last ? System.lineSeparator() : ""));
            } else {
                out.println(line);
            }
            out.flush();
        }
    }
}
