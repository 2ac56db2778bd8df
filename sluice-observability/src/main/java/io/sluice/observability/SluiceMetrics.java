package io.sluice.observability;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.MultiGauge;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.sluice.ForwardingPublisher;
import io.sluice.Handler;
import io.sluice.Instrumentation;
import io.sluice.Message;
import io.sluice.Publisher;
import io.sluice.Receipt;
import io.sluice.RetryLaterException;
import io.sluice.Subscription;
import io.sluice.SubscriptionStats;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Micrometer meters for a Sluice client, named {@code sluice.*}:
 *
 * <table>
 *   <caption>Meters</caption>
 *   <tr><th>name</th><th>type</th><th>tags</th><th>what</th></tr>
 *   <tr><td>sluice.publish</td><td>timer</td><td>topic, result (ok, error)</td><td>publish to broker confirmation</td></tr>
 *   <tr><td>sluice.handler</td><td>timer</td><td>topic, group, result (success, failure, deferred)</td><td>one
 *   handler attempt; deferred: middleware (a circuit breaker) did not call the handler</td></tr>
 *   <tr><td>sluice.consume.received</td><td>counter</td><td>topic, group, subscription</td><td>messages fetched</td></tr>
 *   <tr><td>sluice.consume.handled</td><td>counter</td><td>same</td><td>messages whose handler succeeded</td></tr>
 *   <tr><td>sluice.consume.retries</td><td>counter</td><td>same</td><td>failed attempts scheduled again</td></tr>
 *   <tr><td>sluice.consume.dead.letters</td><td>counter</td><td>same</td><td>messages confirmed on the dead-letter topic</td></tr>
 *   <tr><td>sluice.consume.in.flight</td><td>gauge</td><td>same</td><td>fetched and unfinished</td></tr>
 *   <tr><td>sluice.consume.lag</td><td>gauge</td><td>same, partition</td><td>published, not yet fetched</td></tr>
 *   <tr><td>sluice.consumer.stalled</td><td>gauge</td><td>same, partition</td><td>1 while the partition's commit
 *   watermark stands on an unfinished message longer than {@code consumer.stallWarning}, else 0</td></tr>
 * </table>
 *
 * <p>The consume counters read {@link Subscription#stats()} when the registry is scraped, so they cost the engine
 * nothing per message; the timers cost one {@link System#nanoTime()} pair and a record. Meters of a subscription are
 * removed when it ends. {@code subscription} tells apart members of one group in the same process.
 *
 * <p>Thread-safe. Threads: one daemon platform thread, started with the first subscription, refreshes the
 * per-partition lag and stall rows every {@code lagRefresh} (partitions come and go with rebalances).
 */
public final class SluiceMetrics implements Instrumentation, AutoCloseable {
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(SluiceMetrics.class);
    private final MeterRegistry registry;
    private final Tags commonTags;
    private final Duration lagRefresh;
    private final AtomicInteger subscriptionIds = new AtomicInteger();
    private final Map<Subscription, Bound> bound = new ConcurrentHashMap<>();
    private final Map<String, Timer[]> publishTimers = new ConcurrentHashMap<>();
    private ScheduledExecutorService refresher;
    private ScheduledFuture<?> refreshTask;

    private SluiceMetrics(MeterRegistry registry, Tags commonTags, Duration lagRefresh) {
        this.registry = registry;
        this.commonTags = commonTags;
        this.lagRefresh = lagRefresh;
    }

    /** Meters on {@code registry}, lag rows refreshed each second. */
    public static SluiceMetrics of(MeterRegistry registry) {
        return of(registry, Tags.empty(), Duration.ofSeconds(1));
    }

    /** Meters on {@code registry} with {@code commonTags} on each, lag rows refreshed every {@code lagRefresh}. */
    public static SluiceMetrics of(MeterRegistry registry, Tags commonTags, Duration lagRefresh) {
        if (lagRefresh.isNegative() || lagRefresh.isZero()) {
            throw new IllegalArgumentException("lagRefresh must be positive, got " + lagRefresh);
        }
        return new SluiceMetrics(registry, commonTags, lagRefresh);
    }

    // ------------------------------------------------------------------ publish

    @Override
    public Publisher publisher(Publisher publisher) {
        return new ForwardingPublisher(publisher) {
            @Override
            public CompletableFuture<Receipt> publish(String topic, Message message) {
                if (topic == null) {
                    return publisher.publish(topic, message); // the publisher's own clear error
                }
                Timer[] timers = publishTimers.computeIfAbsent(topic, SluiceMetrics.this::publishTimersOf);
                long t0 = System.nanoTime();
                CompletableFuture<Receipt> f = publisher.publish(topic, message);
                f.whenComplete((r, e) -> (e == null ? timers[0] : timers[1])
                        .record(System.nanoTime() - t0, TimeUnit.NANOSECONDS));
                return f;
            }
        };
    }

    private Timer[] publishTimersOf(String topic) {
        return new Timer[] {publishTimer(topic, "ok"), publishTimer(topic, "error")};
    }

    private Timer publishTimer(String topic, String result) {
        return Timer.builder("sluice.publish").description("Publishes, from the call to the broker's confirmation")
                .tags(commonTags).tag("topic", topic).tag("result", result).register(registry);
    }

    // ------------------------------------------------------------------ consume

    @Override
    public Handler handler(String topic, String group, Handler handler) {
        Timer success = handlerTimer(topic, group, "success");
        Timer failure = handlerTimer(topic, group, "failure");
        Timer deferred = handlerTimer(topic, group, "deferred");
        return m -> {
            long t0 = System.nanoTime();
            Timer outcome = failure;
            try {
                handler.handle(m);
                outcome = success;
            } catch (RetryLaterException e) {
                if (!e.countsAsAttempt()) {
                    outcome = deferred;
                }
                throw e;
            } finally {
                outcome.record(System.nanoTime() - t0, TimeUnit.NANOSECONDS);
            }
        };
    }

    private Timer handlerTimer(String topic, String group, String result) {
        return Timer.builder("sluice.handler").description("Handler attempts, each from its start to its end")
                .tags(commonTags).tag("topic", topic).tag("group", group).tag("result", result).register(registry);
    }

    @Override
    public void subscribed(Subscription s) {
        Tags tags = commonTags.and("topic", s.topic(), "group", s.group(),
                "subscription", Integer.toString(subscriptionIds.incrementAndGet()));
        List<Meter> meters = new ArrayList<>();
        meters.add(counter("sluice.consume.received", "Messages fetched", s, tags, SubscriptionStats::received));
        meters.add(counter("sluice.consume.handled", "Messages whose handler succeeded", s, tags,
                SubscriptionStats::handled));
        meters.add(counter("sluice.consume.retries", "Failed attempts scheduled again", s, tags,
                SubscriptionStats::retried));
        meters.add(counter("sluice.consume.dead.letters", "Messages confirmed on the dead-letter topic", s, tags,
                SubscriptionStats::deadLettered));
        meters.add(Gauge.builder("sluice.consume.in.flight", s, x -> x.stats().inFlight())
                .description("Messages fetched and not yet finished").tags(tags).register(registry));
        MultiGauge lag = MultiGauge.builder("sluice.consume.lag")
                .description("Messages published but not yet fetched, per partition held").tags(tags)
                .register(registry);
        MultiGauge stalled = MultiGauge.builder("sluice.consumer.stalled")
                .description("1 while the partition's commit watermark has stood on an unfinished message longer "
                        + "than consumer.stallWarning, else 0; per partition held").tags(tags).register(registry);
        Bound b = new Bound(meters, lag, stalled);
        bound.put(s, b);
        refreshLag(s, b);
        startRefresher();
    }

    private FunctionCounter counter(String name, String description, Subscription s, Tags tags,
                                    java.util.function.ToLongFunction<SubscriptionStats> field) {
        return FunctionCounter.builder(name, s, x -> field.applyAsLong(x.stats())).description(description)
                .tags(tags).register(registry);
    }

    @Override
    public void ended(Subscription s) {
        Bound b = bound.remove(s);
        if (b != null) {
            synchronized (b) { // a refresh under way must not put rows back afterwards
                b.ended = true;
                b.lag.register(List.of(), true);
                b.stalled.register(List.of(), true);
            }
            b.meters.forEach(registry::remove);
        }
    }

    private synchronized void startRefresher() {
        if (refresher == null) {
            refresher = Executors.newSingleThreadScheduledExecutor(
                    Thread.ofPlatform().daemon(true).name("sluice-metrics").factory());
            long period = lagRefresh.toNanos();
            refreshTask = refresher.scheduleAtFixedRate(this::refreshAll, period, period, TimeUnit.NANOSECONDS);
        }
    }

    private void refreshAll() {
        bound.forEach((s, b) -> {
            try {
                refreshLag(s, b);
            } catch (RuntimeException e) { // one failure must not cancel the periodic task
                log.warn("Refreshing the lag meters of topic {} group {} failed", s.topic(), s.group(), e);
            }
        });
    }

    private static void refreshLag(Subscription s, Bound b) {
        List<MultiGauge.Row<?>> rows = new ArrayList<>();
        s.lag().forEach((partition, value) -> rows.add(MultiGauge.Row.of(Tags.of("partition",
                Integer.toString(partition)), value)));
        Map<Integer, Long> stuck = s.stats().stalledPartitions();
        List<MultiGauge.Row<?>> stalledRows = new ArrayList<>();
        s.assignedPartitions().forEach(partition -> stalledRows.add(MultiGauge.Row.of(Tags.of("partition",
                Integer.toString(partition)), stuck.containsKey(partition) ? 1 : 0)));
        synchronized (b) {
            if (!b.ended) {
                b.lag.register(rows, true);
                b.stalled.register(stalledRows, true);
            }
        }
    }

    /** Stops the lag refresher; meters stay registered. */
    @Override
    public synchronized void close() {
        if (refresher != null) {
            refreshTask.cancel(false);
            refresher.shutdownNow();
        }
    }

    /** The meters of one subscription. Its monitor orders lag refreshes against the end. */
    private static final class Bound {
        final List<Meter> meters;
        final MultiGauge lag;
        final MultiGauge stalled;
        boolean ended;

        Bound(List<Meter> meters, MultiGauge lag, MultiGauge stalled) {
            this.meters = meters;
            this.lag = lag;
            this.stalled = stalled;
        }
    }
}
