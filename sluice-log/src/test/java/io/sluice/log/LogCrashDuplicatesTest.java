package io.sluice.log;

import io.sluice.Message;
import io.sluice.Sluice;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.SluiceConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Issue 9, defect 11: on the embedded log the engine commits whenever a watermark moves, so a consumer killed with
 * SIGKILL repeats only what was unfinished (at most {@code maxInFlight}) once its last commit is written, however long
 * {@code consumer.commitInterval} is. The child stops making progress at a known point (every message from
 * {@link #FINISHED} on blocks its handler), so the set repeated after the kill is exact, not a race between handler
 * throughput and the time a commit takes to reach the disk.
 */
class LogCrashDuplicatesTest {
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final int MAX_IN_FLIGHT = 64;
    private static final int MESSAGES = 3000;
    /** Messages {@code 0 .. FINISHED-1} finish in the child; every later one it starts never returns. */
    private static final int FINISHED = 800;

    @TempDir
    Path dir;

    @Test
    void shouldRepeatOnlyTheUnfinishedMessagesAfterAKillWithATenMinuteCommitInterval() throws Exception {
        try (LogTransport log = LogTransport.open(LogSettings.builder(dir).partitions(1).build())) {
            for (int i = 0; i < MESSAGES; i++) {
                String n = Integer.toString(i);
                log.append("orders", Message.builder().key("k" + (i % 50)).payload("order " + n).header("n", n)
                        .build()).join();
            }
        }
        Set<Integer> startedByChild = new HashSet<>();
        try (ChildJvm child = ChildJvm.start(dir.resolveSibling(dir.getFileName() + "-dup-child.err"), Child.class,
                dir.toString())) {
            await().atMost(WAIT).until(() -> child.lines.contains("COMMITTED"));
            child.kill();
            for (String line : child.lines) {
                String[] f = line.split(" ");
                if (f.length == 2 && f[0].equals("H")) {
                    startedByChild.add(Integer.parseInt(f[1]));
                }
            }
        }
        Set<Integer> unfinished = new HashSet<>(startedByChild);
        unfinished.removeIf(n -> n < FINISHED);
        try (LogTransport log = LogTransport.open(LogSettings.builder(dir).partitions(1).build());
             Sluice sluice = Sluice.create(log, SluiceConfig.of("log"))) {
            Set<Integer> again = java.util.concurrent.ConcurrentHashMap.newKeySet();
            AtomicInteger seen = new AtomicInteger();
            sluice.subscribe("orders", "billing", m -> {
                int n = Integer.parseInt(m.header("n"));
                seen.incrementAndGet();
                if (startedByChild.contains(n)) {
                    again.add(n);
                }
            }, ConsumerOptions.builder().build());
            await().atMost(WAIT).until(() -> seen.get() >= MESSAGES - FINISHED);

            assertThat(startedByChild).as("the child started every message it was to finish").hasSizeGreaterThan(
                    FINISHED);
            assertThat(seen.get()).as("nothing the child finished is delivered again").isEqualTo(MESSAGES - FINISHED);
            // Without commits as the watermark moves, the ten-minute interval would repeat all FINISHED of them.
            assertThat(again).as("handled again: exactly those unfinished at the kill").isEqualTo(unfinished)
                    .hasSizeLessThanOrEqualTo(MAX_IN_FLIGHT);
        }
    }

    /**
     * Consumes {@code orders} in group {@code billing} with a 10-minute commit interval, printing {@code H <n>} as each
     * handler starts; handlers of messages from {@link #FINISHED} on never return. Prints {@code COMMITTED} once the
     * group's position covers every finished message and that commit is written.
     */
    public static final class Child {
        private Child() {
        }

        public static void main(String[] args) throws Exception {
            PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), false);
            LogTransport log = LogTransport.open(LogSettings.builder(Path.of(args[0])).partitions(1).build());
            Sluice sluice = Sluice.create(log, SluiceConfig.of("log"));
            sluice.subscribe("orders", "billing", m -> {
                int n = Integer.parseInt(m.header("n"));
                synchronized (out) {
                    out.println("H " + n); // before the handler returns, so before it can be committed
                    out.flush();
                }
                while (n >= FINISHED) { // stuck for good, as a kill finds a handler midway
                    try {
                        Thread.sleep(Long.MAX_VALUE);
                    } catch (InterruptedException timedOut) {
                        // ignored: the attempt must not fail, be retried and end as a dead letter
                    }
                }
            }, ConsumerOptions.builder().commitInterval(Duration.ofMinutes(10)).maxInFlight(MAX_IN_FLIGHT).build());
            // One partition, in order of n: every message before FINISHED is fetched (and finishes) before the
            // stuck ones fill the in-flight bound, and once they are committed the group's position is FINISHED.
            await().atMost(Duration.ofMinutes(5)).until(() -> {
                long sum = 0;
                for (int p = 0; p < log.partitions("orders"); p++) {
                    sum += log.committedOffset("orders", "billing", p).orElse(0);
                }
                return sum == FINISHED;
            });
            // The log writes commits in order on one thread: once this other group's durable commit returned, the
            // one above is written too.
            log.seekGroup("orders", "barrier", Map.of(0, 0L));
            synchronized (out) {
                out.println("COMMITTED");
                out.flush();
            }
            Thread.sleep(Long.MAX_VALUE);
        }
    }
}
