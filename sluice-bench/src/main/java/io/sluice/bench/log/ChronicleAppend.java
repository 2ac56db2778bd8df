package io.sluice.bench.log;

import io.sluice.bench.CpuClock;
import net.openhft.chronicle.bytes.BytesStore;
import net.openhft.chronicle.queue.ChronicleQueue;
import net.openhft.chronicle.queue.ExcerptAppender;

import java.nio.file.Path;
import java.util.List;

/**
 * The Chronicle Queue side of {@code sluice bench log}, run in a child JVM because Chronicle needs access to JDK
 * internals ({@link #JVM_FLAGS}) that the CLI's JVM does not grant. Appends {@code n} values of {@code size} bytes
 * to a queue in a directory on the same disk and prints {@code RESULT <nanos> <cpu nanos>} for the timed part.
 *
 * <p>Arguments: directory, n, size.
 */
public final class ChronicleAppend {
    /** What Chronicle Queue needs on JDK 21 and later. */
    static final List<String> JVM_FLAGS = List.of(
            "--add-exports=java.base/jdk.internal.ref=ALL-UNNAMED",
            "--add-exports=java.base/sun.nio.ch=ALL-UNNAMED",
            "--add-exports=jdk.unsupported/sun.misc=ALL-UNNAMED",
            "--add-exports=jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED",
            "--add-opens=jdk.compiler/com.sun.tools.javac=ALL-UNNAMED",
            "--add-opens=java.base/java.lang=ALL-UNNAMED",
            "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
            "--add-opens=java.base/java.io=ALL-UNNAMED",
            "--add-opens=java.base/java.util=ALL-UNNAMED",
            "--add-opens=java.base/java.nio=ALL-UNNAMED",
            "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
            "--add-opens=java.base/jdk.internal.misc=ALL-UNNAMED",
            "--enable-native-access=ALL-UNNAMED",
            "-Dchronicle.analytics.disable=true",
            "-Dchronicle.announcer.disable=true");

    private ChronicleAppend() {
    }

    public static void main(String[] args) {
        Path dir = Path.of(args[0]);
        int n = Integer.parseInt(args[1]);
        int size = Integer.parseInt(args[2]);
        BytesStore<?, ?> value = BytesStore.wrap(LogBench.value(size));
        try (ChronicleQueue queue = ChronicleQueue.singleBuilder(dir).build();
             ExcerptAppender appender = queue.createAppender()) {
            for (int i = 0; i < Math.min(n, 200_000); i++) { // warm-up
                appender.writeBytes(value);
            }
            long cpu0 = CpuClock.processCpuNanos();
            long t0 = System.nanoTime();
            for (int i = 0; i < n; i++) {
                appender.writeBytes(value);
            }
            long t = System.nanoTime() - t0;
            long cpu = CpuClock.processCpuNanos() - cpu0;
            System.out.println("RESULT " + t + " " + cpu);
        }
    }
}
