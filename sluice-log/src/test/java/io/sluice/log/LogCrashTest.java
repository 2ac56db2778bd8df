package io.sluice.log;

import io.sluice.Message;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Kills a process that appends with fsync {@code always} with SIGKILL at random points, over and over, and after each
 * kill reopens the log and checks it: every acknowledged record is there, byte for byte and in order; offsets are
 * dense; every record in the log (acknowledged or not) is exactly the one the child wrote at that offset; no corrupt
 * batch is readable; the directory verifies as sound.
 *
 * <p>50 iterations by default; {@code -Dsluice.crash.iterations=1000} for more, {@code -Dsluice.crash.seed=N} to
 * repeat a run. A fresh directory every 10 iterations keeps the logs small; within one, each child continues the log
 * the previous one left, so recovery runs on logs with several segments, rolls and earlier cuts.
 */
class LogCrashTest {
    private static final int KILLS_PER_DIRECTORY = 10;

    @TempDir
    Path tmp;

    @Test
    void shouldKeepEveryAcknowledgedRecordAcrossKillNine() throws Exception {
        int iterations = Integer.getInteger("sluice.crash.iterations", 50);
        long seed = Long.getLong("sluice.crash.seed", System.nanoTime());
        Random random = new Random(seed);
        long t0 = System.nanoTime();
        long acknowledged = 0;
        long unacknowledgedKept = 0;
        Map<RecoveryEvent.Kind, Integer> kinds = new EnumMap<>(RecoveryEvent.Kind.class);
        long bytesCut = 0;
        int killedBeforeReady = 0;
        Path dir = null;
        long previousEnd = 0;
        for (int i = 0; i < iterations; i++) {
            if (i % KILLS_PER_DIRECTORY == 0) {
                dir = tmp.resolve("log-" + i);
                previousEnd = 0;
            }
            Compression compression = Compression.values()[i % 3];
            ChildRun run = runAndKill(dir, compression, random, i);
            if (!run.ready) {
                killedBeforeReady++;
            }
            assertThat(run.errors).as("append failures in child %d (seed %d)", i, seed).isEmpty();
            assertThat(run.mismatches).as("acks whose offset differs from their sequence (seed %d)", seed).isEmpty();

            try (LogTransport log = LogTransport.open(CrashChild.settings(dir, Compression.NONE))) {
                for (RecoveryEvent e : log.events()) {
                    kinds.merge(e.kind(), 1, Integer::sum);
                    bytesCut += e.bytes();
                    assertThat(e.kind()).as("recovery event after kill %d (seed %d): %s", i, seed, e)
                            .isIn(RecoveryEvent.Kind.TAIL_TRUNCATED, RecoveryEvent.Kind.INDEX_REBUILT);
                }
                long end = log.endOffset(CrashWorkload.TOPIC, 0);
                int lastAcked = run.acked.length() - 1;
                assertThat((long) lastAcked).as("highest acknowledged offset after kill %d (seed %d)", i, seed)
                        .isLessThan(end);
                long offset = 0;
                while (offset < end) {
                    List<LogRecord> chunk = log.read(CrashWorkload.TOPIC, 0, offset, 4096);
                    assertThat(chunk).as("records from offset %d of %d after kill %d (seed %d)", offset, end, i, seed)
                            .isNotEmpty();
                    for (LogRecord r : chunk) {
                        assertThat(r.offset()).as("dense offsets").isEqualTo(offset);
                        Message expected = CrashWorkload.record(offset);
                        assertThat(r.message()).as("record at offset %d after kill %d (seed %d)", offset, i, seed)
                                .isEqualTo(expected);
                        offset++;
                    }
                }
                assertThat(end).as("end offset after kill %d (seed %d)", i, seed).isGreaterThanOrEqualTo(previousEnd);
                acknowledged += run.acked.cardinality();
                unacknowledgedKept += end - previousEnd - run.acked.cardinality();
                previousEnd = end;
            }
            assertThat(io.sluice.log.tools.LogVerifier.verify(dir, new java.io.PrintStream(
                    java.io.OutputStream.nullOutputStream())).sound())
                    .as("sluice log verify after kill %d (seed %d)", i, seed).isTrue();
        }
        System.out.printf("crash test: %d kills (%d before the log was open), %d acknowledged records all present, "
                        + "%d unacknowledged records found complete, recovery events %s, %d bytes cut, %.1f s, "
                        + "seed %d%n", iterations, killedBeforeReady, acknowledged, unacknowledgedKept, kinds,
                bytesCut, (System.nanoTime() - t0) / 1e9, seed);
        assertThat(acknowledged).as("the children got records acknowledged at all").isPositive();
    }

    /** What one child did before it was killed. */
    private static final class ChildRun {
        volatile boolean ready;
        final BitSet acked = new BitSet();
        final List<String> errors = new ArrayList<>();
        final List<String> mismatches = new ArrayList<>();
    }

    private ChildRun runAndKill(Path dir, Compression compression, Random random, int iteration) throws Exception {
        String java = ProcessHandle.current().info().command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        ProcessBuilder pb = new ProcessBuilder(java, "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
                "--enable-native-access=ALL-UNNAMED", "-Xmx256m", "-Xss512k",
                "-cp", System.getProperty("java.class.path"), CrashChild.class.getName(), dir.toString(),
                compression.name())
                .redirectError(tmp.resolve("child-" + iteration + ".err").toFile());
        Process child = pb.start();
        ChildRun run = new ChildRun();
        CountDownLatch ready = new CountDownLatch(1);
        Thread reader = Thread.ofPlatform().daemon(true).start(() -> {
            try (BufferedReader in = new BufferedReader(new InputStreamReader(child.getInputStream(),
                    StandardCharsets.UTF_8))) {
                String line;
                while ((line = in.readLine()) != null) {
                    String[] f = line.split(" ", 3);
                    switch (f[0]) {
                        case "READY" -> {
                            run.ready = true;
                            ready.countDown();
                        }
                        case "A" -> {
                            if (f.length < 3) {
                                break; // a line cut by the kill
                            }
                            long offset = Long.parseLong(f[1]);
                            long seq = Long.parseLong(f[2]);
                            if (offset != seq) {
                                run.mismatches.add(line);
                            }
                            synchronized (run.acked) {
                                run.acked.set((int) offset);
                            }
                        }
                        case "E" -> run.errors.add(line);
                        default -> {
                            // a partial line at the kill
                        }
                    }
                }
            } catch (IOException | NumberFormatException e) {
                // the stream ends with the kill; a half-written number is not an ack
            }
        });
        if (random.nextInt(10) == 0) {
            // Sometimes kill while the child is still starting or recovering.
            TimeUnit.MILLISECONDS.sleep(random.nextInt(600));
        } else {
            assertThat(ready.await(60, TimeUnit.SECONDS)).as("child %d opened the log", iteration).isTrue();
            TimeUnit.MILLISECONDS.sleep(random.nextInt(150));
        }
        child.destroyForcibly();
        assertThat(child.waitFor(30, TimeUnit.SECONDS)).as("child %d died", iteration).isTrue();
        reader.join(TimeUnit.SECONDS.toMillis(30));
        return run;
    }
}
