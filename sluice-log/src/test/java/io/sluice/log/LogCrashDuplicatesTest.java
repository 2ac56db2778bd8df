package io.sluice.log;

import io.sluice.Message;
import io.sluice.Receipt;
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
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Issue 9, defect 11: on the embedded log the engine commits whenever a watermark moves, so a consumer killed with
 * SIGKILL repeats about {@code maxInFlight} messages after restart, however long {@code consumer.commitInterval} is.
 */
class LogCrashDuplicatesTest {
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final int MAX_IN_FLIGHT = 64;

    @TempDir
    Path dir;

    @Test
    void shouldRepeatAboutMaxInFlightMessagesAfterAKillWhateverTheCommitInterval() throws Exception {
        Map<String, Receipt> receipts = new HashMap<>();
        try (LogTransport log = LogTransport.open(LogSettings.builder(dir).build())) {
            for (int i = 0; i < 3000; i++) {
                String n = Integer.toString(i);
                receipts.put(n, log.append("orders", Message.builder().key("k" + (i % 50)).payload("order " + n)
                        .header("n", n).build()).join());
            }
        }
        Set<String> handledByChild = new HashSet<>();
        try (ChildJvm child = ChildJvm.start(dir.resolveSibling(dir.getFileName() + "-dup-child.err"), Child.class,
                dir.toString())) {
            await().atMost(WAIT).until(() -> child.lines.stream().filter(l -> l.startsWith("H ")).count() >= 800);
            child.kill();
            for (String line : child.lines) {
                String[] f = line.split(" ");
                if (f.length == 2 && f[0].equals("H")) {
                    handledByChild.add(f[1]);
                }
            }
        }
        try (LogTransport log = LogTransport.open(LogSettings.builder(dir).build());
             Sluice sluice = Sluice.create(log, SluiceConfig.of("log"))) {
            Set<String> again = java.util.concurrent.ConcurrentHashMap.newKeySet();
            Set<String> seen = java.util.concurrent.ConcurrentHashMap.newKeySet();
            sluice.subscribe("orders", "billing", m -> {
                seen.add(m.header("n"));
                if (handledByChild.contains(m.header("n"))) {
                    again.add(m.header("n"));
                }
            }, ConsumerOptions.builder().build());
            Set<String> unhandled = new HashSet<>(receipts.keySet());
            unhandled.removeAll(handledByChild);
            await().atMost(WAIT).until(() -> seen.containsAll(unhandled));
            assertThat(handledByChild.size()).as("messages the child had started").isGreaterThanOrEqualTo(800);
            // In flight at the kill (at most maxInFlight) plus what finished while the last commit was being forced.
            assertThat(again.size()).as("messages handled again after the kill, with maxInFlight %d", MAX_IN_FLIGHT)
                    .isLessThanOrEqualTo(2 * MAX_IN_FLIGHT);
        }
    }

    /** Consumes {@code orders} in group {@code billing} with a 10-minute commit interval; prints {@code H <n>}. */
    public static final class Child {
        private Child() {
        }

        public static void main(String[] args) throws Exception {
            PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), false);
            LogTransport log = LogTransport.open(LogSettings.builder(Path.of(args[0])).build());
            Sluice sluice = Sluice.create(log, SluiceConfig.of("log"));
            sluice.subscribe("orders", "billing", m -> {
                synchronized (out) {
                    out.println("H " + m.header("n")); // before the handler returns, so before it can be committed
                    out.flush();
                }
                Thread.sleep(2);
            }, ConsumerOptions.builder().commitInterval(Duration.ofMinutes(10)).maxInFlight(MAX_IN_FLIGHT).build());
            Thread.sleep(Long.MAX_VALUE);
        }
    }
}
