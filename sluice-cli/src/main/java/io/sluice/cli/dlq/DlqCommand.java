package io.sluice.cli.dlq;

import io.sluice.DeadLetters;
import io.sluice.Handler;
import io.sluice.Message;
import io.sluice.Sluice;
import io.sluice.Subscription;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.Durations;
import io.sluice.config.RetryPolicy;
import io.sluice.config.SluiceConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

/**
 * {@code sluice dlq show|replay TOPIC}: reads the dead-letter topic of {@code TOPIC} on any transport, until it has
 * caught up with what was there when it started.
 */
@Command(name = "dlq", mixinStandardHelpOptions = true,
        description = "Inspect and replay dead letters.",
        subcommands = {DlqShow.class, DlqReplay.class})
public final class DlqCommand implements Runnable {
    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    /** Options every dlq command takes. */
    static final class Source {
        @Option(names = "--config", description = "sluice.yaml naming the transport (default: the embedded log in --data)")
        Path config;

        @Option(names = "--data", defaultValue = "sluice-data",
                description = "directory of the embedded log when no --config is given (default ${DEFAULT-VALUE})")
        Path data;

        @Option(names = "--dlq-topic", description = "the dead-letter topic (default TOPIC.dlq)")
        String dlqTopic;

        @Option(names = "--limit", defaultValue = "2147483647", description = "stop after this many dead letters")
        int limit;

        @Option(names = "--max-wait", defaultValue = "30s",
                description = "give up waiting for the topic to be read to its end after this long (default ${DEFAULT-VALUE})")
        String maxWait;

        SluiceConfig config() throws java.io.IOException {
            if (config != null) {
                return SluiceConfig.load(config);
            }
            return SluiceConfig.of(SluiceConfig.DEFAULT_TRANSPORT)
                    .withTransport("log", Map.of("dir", data.toString(), "fsync", "always"));
        }

        String dlqTopic(String topic) {
            return dlqTopic != null ? dlqTopic : DeadLetters.defaultTopic(topic);
        }
    }

    /**
     * Runs {@code handler} over the dead-letter topic in {@code group}, one message at a time in order, until the
     * topic is read to the end it had (the lag is zero and nothing is in flight), {@code limit} messages were
     * handled, or {@code maxWait} passed. A failing handler stops the run: the message stays unacknowledged.
     *
     * @return messages handled, and whether the run got to the end without a failure or giving up
     */
    static Drained drain(Sluice sluice, String dlqTopic, String group, Source source, Handler handler, PrintStream out)
            throws InterruptedException {
        Duration maxWait = Durations.parse("--max-wait", source.maxWait);
        ConsumerOptions options = ConsumerOptions.builder().maxInFlight(1)
                .startFrom(io.sluice.config.StartPosition.EARLIEST)
                .retry(RetryPolicy.builder().maxAttempts(1).build())
                .deadLetter(io.sluice.config.DeadLetterPolicy.builder().topic(dlqTopic + ".unreplayable").build())
                .build();
        java.util.concurrent.atomic.AtomicLong done = new java.util.concurrent.atomic.AtomicLong();
        java.util.concurrent.atomic.AtomicReference<Exception> failure = new java.util.concurrent.atomic.AtomicReference<>();
        Subscription sub = sluice.subscribe(dlqTopic, group, m -> {
            if (done.get() >= source.limit || failure.get() != null) {
                throw io.sluice.RetryLaterException.notAttempted(Duration.ofHours(1), "limit reached");
            }
            try {
                handler.handle(m);
                done.incrementAndGet();
            } catch (Exception e) {
                failure.compareAndSet(null, e);
                throw io.sluice.RetryLaterException.notAttempted(Duration.ofHours(1), "stopped: " + e.getMessage());
            }
        }, options);
        long deadline = System.nanoTime() + maxWait.toNanos();
        boolean caughtUp = false;
        try {
            while (System.nanoTime() < deadline && failure.get() == null && done.get() < source.limit) {
                if (caughtUp(sub)) {
                    caughtUp = true;
                    break;
                }
                Thread.sleep(50);
            }
        } finally {
            sub.close(Duration.ofSeconds(10));
        }
        boolean complete = caughtUp || done.get() >= source.limit;
        if (failure.get() != null) {
            complete = false;
            out.println("stopped at a message that failed: " + failure.get().getMessage()
                    + " (it stays on the dead-letter topic)");
        } else if (!complete) {
            out.println("gave up after " + source.maxWait + " before reaching the end of " + dlqTopic
                    + (sub.lag().isEmpty() ? " (this transport reports no lag, so the end cannot be told)" : ""));
        }
        return new Drained(done.get(), complete);
    }

    /** Every partition the member holds reports a lag, all zero, and nothing is in flight. */
    private static boolean caughtUp(Subscription sub) {
        java.util.Set<Integer> held = sub.assignedPartitions();
        Map<Integer, Long> lag = sub.lag();
        if (held.isEmpty() || !lag.keySet().containsAll(held)) {
            return false;
        }
        for (int p : held) {
            if (lag.get(p) != 0) {
                return false;
            }
        }
        return sub.stats().inFlight() == 0;
    }

    /** What a drain did. */
    record Drained(long handled, boolean complete) {
    }
}
