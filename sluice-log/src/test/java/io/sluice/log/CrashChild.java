package io.sluice.log;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.concurrent.Semaphore;

/**
 * The process the crash test kills: opens the log with fsync {@code always}, prints {@code READY <end offset>}, then
 * appends {@link CrashWorkload} records from one thread with up to 64 in flight, and prints {@code A <offset>} for
 * each acknowledged one, strictly after its future completed. Runs until killed.
 *
 * <p>Arguments: directory, compression.
 */
public final class CrashChild {
    private CrashChild() {
    }

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        Compression compression = Compression.valueOf(args[1]);
        PrintStream out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), false);
        LogTransport log = LogTransport.open(settings(dir, compression));
        long seq = log.endOffset(CrashWorkload.TOPIC, 0);
        synchronized (out) {
            out.println("READY " + seq);
            out.flush();
        }
        Semaphore inFlight = new Semaphore(64);
        while (true) {
            inFlight.acquire();
            long expected = seq++;
            log.append(CrashWorkload.TOPIC, CrashWorkload.record(expected)).whenComplete((receipt, error) -> {
                inFlight.release();
                synchronized (out) {
                    if (error != null) {
                        out.println("E " + expected + " " + error);
                    } else {
                        out.println("A " + receipt.offset() + " " + expected);
                    }
                    out.flush();
                }
            });
        }
    }

    static LogSettings settings(Path dir, Compression compression) {
        return LogSettings.builder(dir).partitions(1).fsync(FsyncPolicy.ALWAYS).segmentBytes(48 * 1024)
                .indexIntervalBytes(512).compression(compression).build();
    }
}
