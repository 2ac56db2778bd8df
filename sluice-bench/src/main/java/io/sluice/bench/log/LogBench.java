package io.sluice.bench.log;

import io.sluice.Message;
import io.sluice.Receipt;
import io.sluice.bench.Benchmark;
import io.sluice.bench.CpuClock;
import io.sluice.log.FsyncPolicy;
import io.sluice.log.LogRecord;
import io.sluice.log.LogSettings;
import io.sluice.log.LogTransport;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;
import java.util.stream.Stream;

/**
 * {@code sluice bench log}: the embedded log against the physical limits of the same disk and against Chronicle
 * Queue, all measured in one run.
 *
 * <ol>
 * <li>Append with fsync {@code never} (one partition, one publishing thread, acknowledgements awaited), 100 B and
 * 1 KiB values, as a ratio to a raw sequential {@link FileChannel} write of the same value bytes in 256 KiB chunks,
 * and to Chronicle Queue appending the same values (in a child JVM, which gets the JDK-internals flags Chronicle
 * needs).</li>
 * <li>Append with fsync {@code always} from 1, 16 and 256 concurrent publishers, each waiting for its ack before the
 * next publish: acknowledged records/s and ack latency, against the raw fsync rate of the disk, for 100 B writes and
 * for writes as large as the log's groups.</li>
 * <li>Sequential read of the 1 KiB log from the page cache, decoding every record, against a raw read of its
 * files.</li>
 * </ol>
 * Every line gives process CPU time per record.
 */
@Command(name = "log", mixinStandardHelpOptions = true,
        description = "Embedded log: append vs raw FileChannel and Chronicle Queue, fsync group commit, reads.")
public final class LogBench implements Benchmark {
    @Option(names = "--dir", description = "where to write (default: a new directory under java.io.tmpdir)")
    Path dir;

    @Option(names = "--records-100", defaultValue = "2000000",
            description = "100-byte records to append (default ${DEFAULT-VALUE})")
    int records100;

    @Option(names = "--records-1k", defaultValue = "400000",
            description = "1 KiB records to append (default ${DEFAULT-VALUE})")
    int records1k;

    @Option(names = "--fsync-seconds", defaultValue = "4",
            description = "measured seconds per fsync-always publisher count (default ${DEFAULT-VALUE})")
    int fsyncSeconds;

    @Option(names = "--no-chronicle", description = "skip Chronicle Queue")
    boolean noChronicle;

    @Option(names = "--phases", split = ",", defaultValue = "append,fsync,read",
            description = "phases to run, for profiling one of them (default ${DEFAULT-VALUE})")
    java.util.Set<String> phases;

    /** Appends outstanding at most in the fsync-never runs; a power of two. */
    private static final int WINDOW = 16_384;

    private final PrintStream out = System.out;

    @Override
    public Integer call() throws Exception {
        Path root = dir != null ? dir : Files.createTempDirectory("sluice-bench-log");
        Files.createDirectories(root);
        out.printf("sluice bench log: in %s (%s), JVM %s, %d cores%n", root.toAbsolutePath(),
                Files.getFileStore(root), Runtime.version(), Runtime.getRuntime().availableProcessors());
        try {
            return run(root);
        } finally {
            delete(root);
        }
    }

    private int run(Path root) throws Exception {
        out.println("warm-up ...");
        appendNever(root.resolve("warmup"), 300_000, 100);
        rawWrite(root.resolve("warmup-raw"), 300_000, 100);
        List<String> report = new ArrayList<>();
        List<String> targets = new ArrayList<>();
        if (phases.contains("append") || phases.contains("read")) {
            appendPhase(root, report, targets);
        }
        if (phases.contains("fsync")) {
            fsyncPhase(root, report, targets);
        }
        if (phases.contains("read")) {
            readPhase(root, report);
        }
        out.println();
        out.println("Results");
        report.forEach(line -> out.println("  " + line));
        out.println();
        out.println("Targets");
        targets.forEach(line -> out.println("  " + line));
        return 0;
    }

    private void appendPhase(Path root, List<String> report, List<String> targets) throws IOException {
        for (int size : new int[] {100, 1024}) {
            int n = size == 100 ? records100 : records1k;
            out.printf("%nappend, fsync never, %,d records of %d B ...%n", n, size);
            // The raw rate of a page-cache write swings with writeback; the best of two runs around the log's is the
            // physical limit the log is held to.
            Rate raw = rawWrite(root.resolve("raw-" + size), n, size);
            Rate log = appendNever(root.resolve("log-" + size), n, size);
            Rate raw2 = rawWrite(root.resolve("raw-" + size), n, size);
            if (raw2.perSecond > raw.perSecond) {
                raw = raw2;
            }
            Rate chronicle = noChronicle ? null : chronicle(root.resolve("chronicle-" + size), n, size);
            double ratio = log.perSecond / raw.perSecond;
            report.add(String.format("append %4d B, fsync never   log %,11.0f rec/s %,8.1f MB/s %6.2f us CPU/rec | "
                            + "raw FileChannel %,11.0f rec/s %,8.1f MB/s | log/raw %.2f", size, log.perSecond,
                    log.perSecond * size / 1e6, log.cpuMicros, raw.perSecond, raw.perSecond * size / 1e6, ratio));
            if (size == 1024) {
                targets.add(String.format("append 1 KiB, fsync never: log/raw FileChannel >= 0.70            %.2f  %s",
                        ratio, ratio >= 0.7 ? "met" : "MISSED"));
            }
            if (chronicle != null) {
                double vsChronicle = log.perSecond / chronicle.perSecond;
                report.add(String.format("                              Chronicle Queue %,11.0f rec/s %,8.1f MB/s "
                                + "%6.2f us CPU/rec | log/chronicle %.2f", chronicle.perSecond,
                        chronicle.perSecond * size / 1e6, chronicle.cpuMicros, vsChronicle));
                if (size == 100) {
                    targets.add(String.format("append 100 B, fsync never: log/Chronicle Queue >= 0.50            "
                            + "%.2f  %s", vsChronicle, vsChronicle >= 0.5 ? "met" : "MISSED"));
                }
            }
        }
    }

    private void fsyncPhase(Path root, List<String> report, List<String> targets) throws Exception {
        out.printf("%nraw fsync rate (100 B write + fdatasync, best of 3 x 1 s) ...%n");
        double fsyncRate = bestRawFsyncRate(root.resolve("fsync-raw"), 100);
        report.add(String.format("raw fsync rate                %,11.0f fsync/s (%.0f us each)", fsyncRate,
                1e6 / fsyncRate));
        for (int publishers : new int[] {1, 16, 256}) {
            out.printf("%nappend, fsync always, %d publisher%s, %d s ...%n", publishers, publishers == 1 ? "" : "s",
                    fsyncSeconds);
            Acked a = appendAlways(root.resolve("always-" + publishers), publishers, fsyncSeconds, 100);
            report.add(String.format("fsync always, %3d publishers  %,11.0f acked rec/s, p50 %,7.0f us, p99 %,7.0f "
                            + "us, %5.1f records/fsync (%,.0f us each, %.0f%% of the time), %6.2f us CPU/rec | %.2f x "
                            + "publishers x fsync rate", publishers, a.perSecond, a.p50Micros, a.p99Micros,
                    a.recordsPerFsync, a.fsyncMicros, 100 * a.fsyncShare, a.cpuMicros,
                    a.perSecond / (publishers * fsyncRate)));
            if (publishers == 256) {
                double bound = 0.5 * 256 * fsyncRate;
                // The bandwidth side of the bound: the disk's rate for writes as large as the log's groups.
                int groupBytes = (int) Math.max(100, a.recordsPerFsync * a.bytesPerRecord);
                out.printf("%nraw fsync rate at the log's group size (%,d B write + fdatasync, best of 3 x 1 s) ...%n",
                        groupBytes);
                double groupRate = bestRawFsyncRate(root.resolve("fsync-raw-group"), groupBytes);
                double logFsyncRate = a.perSecond / a.recordsPerFsync;
                report.add(String.format("raw fsync rate, %,6d B writes %,11.0f fsync/s | the log's groups: %,.0f "
                        + "fsync/s = %.2f x raw", groupBytes, groupRate, logFsyncRate, logFsyncRate / groupRate));
                targets.add(String.format("fsync always, 256 publishers >= 0.5 x 256 x fsync rate = %,.0f rec/s   "
                        + "%,.0f  %s", bound, a.perSecond, a.perSecond >= bound ? "met"
                        : String.format("MISSED; bandwidth-bound: %.2f x the raw fsync rate for writes of its group "
                        + "size (%,d B)", logFsyncRate / groupRate, groupBytes)));
            }
        }
    }

    private void readPhase(Path root, List<String> report) throws IOException {
        out.printf("%nsequential read of the 1 KiB log from the page cache ...%n");
        Rate rawRead = rawRead(root.resolve("log-1024"), records1k);
        Rate read = readLog(root.resolve("log-1024"), records1k);
        report.add(String.format("read 1024 B from page cache   log %,11.0f rec/s %,8.1f MB/s %6.2f us CPU/rec | "
                        + "raw FileChannel %,11.0f rec/s %,8.1f MB/s | log/raw %.2f", read.perSecond,
                read.perSecond * 1024 / 1e6, read.cpuMicros, rawRead.perSecond, rawRead.perSecond * 1024 / 1e6,
                read.perSecond / rawRead.perSecond));
    }

    // ---------------------------------------------------------------- workloads

    /** A rate, and process CPU time per record while it was measured. */
    record Rate(double perSecond, double cpuMicros) {
    }

    static byte[] value(int size) {
        byte[] v = new byte[size];
        for (int i = 0; i < size; i++) {
            v[i] = (byte) ('a' + i % 26);
        }
        return v;
    }

    private Rate rawWrite(Path file, int n, int size) throws IOException {
        Files.createDirectories(file.getParent());
        long total = (long) n * size;
        ByteBuffer chunk = ByteBuffer.allocateDirect(256 * 1024);
        byte[] v = value(size);
        while (chunk.remaining() >= size) {
            chunk.put(v);
        }
        chunk.flip();
        int chunkBytes = chunk.remaining();
        long cpu0 = CpuClock.processCpuNanos();
        long t0 = System.nanoTime();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            long written = 0;
            while (written < total) {
                chunk.position(0).limit((int) Math.min(chunkBytes, total - written));
                while (chunk.hasRemaining()) {
                    written += ch.write(chunk);
                }
            }
        }
        long t = System.nanoTime() - t0;
        long cpu = CpuClock.processCpuNanos() - cpu0;
        Rate r = new Rate(n / (t / 1e9), cpu / 1e3 / n);
        out.printf("  raw FileChannel write: %,.0f rec/s (%,.1f MB/s)%n", r.perSecond, r.perSecond * size / 1e6);
        Files.delete(file);
        return r;
    }

    private Rate appendNever(Path logDir, int n, int size) {
        LogSettings settings = LogSettings.builder(logDir).partitions(1).fsync(FsyncPolicy.NEVER)
                .segmentBytes(256L * 1024 * 1024).build();
        byte[] v = value(size);
        try (LogTransport log = LogTransport.open(settings)) {
            log.partitions("bench");
            // A window of outstanding appends: before reusing a slot, wait for the append made WINDOW earlier.
            // Acks complete in offset order, so this waits once per written batch, not once per record.
            @SuppressWarnings("unchecked")
            CompletableFuture<Receipt>[] window = new CompletableFuture[WINDOW];
            long cpu0 = CpuClock.processCpuNanos();
            long t0 = System.nanoTime();
            long nextProgress = t0 + TimeUnit.SECONDS.toNanos(1);
            for (int i = 0; i < n; i++) {
                int slot = i & (WINDOW - 1);
                if (window[slot] != null) {
                    window[slot].join();
                }
                window[slot] = log.append("bench", Message.of(v));
                if ((i & 0xffff) == 0 && System.nanoTime() > nextProgress) {
                    out.printf("  ... %,d of %,d appended%n", i, n);
                    nextProgress += TimeUnit.SECONDS.toNanos(1);
                }
            }
            for (CompletableFuture<Receipt> f : window) {
                if (f != null) {
                    f.join();
                }
            }
            long t = System.nanoTime() - t0;
            long cpu = CpuClock.processCpuNanos() - cpu0;
            Rate r = new Rate(n / (t / 1e9), cpu / 1e3 / n);
            out.printf("  log append: %,.0f rec/s, %.2f us CPU/record, %,d bytes on disk%n", r.perSecond,
                    r.cpuMicros, sizeOf(logDir));
            return r;
        }
    }

    private Rate chronicle(Path queueDir, int n, int size) {
        List<String> command = new ArrayList<>();
        command.add(ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin",
                "java").toString()));
        command.addAll(ChronicleAppend.JVM_FLAGS);
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), ChronicleAppend.class.getName(),
                queueDir.toString(), Integer.toString(n), Integer.toString(size)));
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            String result = null;
            StringBuilder log = new StringBuilder();
            try (BufferedReader in = new BufferedReader(new InputStreamReader(p.getInputStream(),
                    StandardCharsets.UTF_8))) {
                for (String line; (line = in.readLine()) != null; ) {
                    if (line.startsWith("RESULT ")) {
                        result = line;
                    } else {
                        log.append("    | ").append(line).append('\n');
                    }
                }
            }
            p.waitFor(5, TimeUnit.MINUTES);
            if (result == null) {
                out.print("  Chronicle Queue did not report a result:\n" + log);
                return null;
            }
            String[] f = result.split(" ");
            long nanos = Long.parseLong(f[1]);
            long cpu = Long.parseLong(f[2]);
            Rate r = new Rate(n / (nanos / 1e9), cpu / 1e3 / n);
            out.printf("  Chronicle Queue append (child JVM): %,.0f rec/s, %.2f us CPU/record%n", r.perSecond,
                    r.cpuMicros);
            return r;
        } catch (IOException | InterruptedException e) {
            out.println("  Chronicle Queue could not run: " + e);
            return null;
        }
    }

    /** The disk's fsync rate swings with what else the machine does; its best over three seconds is the limit. */
    private double bestRawFsyncRate(Path file, int writeBytes) throws IOException {
        double best = 0;
        for (int i = 0; i < 3; i++) {
            best = Math.max(best, rawFsyncRate(file, 1, writeBytes));
        }
        return best;
    }

    private double rawFsyncRate(Path file, int seconds, int writeBytes) throws IOException {
        Files.createDirectories(file.getParent());
        ByteBuffer b = ByteBuffer.allocateDirect(writeBytes);
        long count = 0;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            long t0 = System.nanoTime();
            long end = t0 + TimeUnit.SECONDS.toNanos(seconds);
            long now;
            while ((now = System.nanoTime()) < end) {
                b.clear();
                ch.write(b);
                ch.force(false);
                count++;
            }
            double rate = count / ((now - t0) / 1e9);
            out.printf("  %,.0f fsync/s%n", rate);
            return rate;
        } finally {
            Files.deleteIfExists(file);
        }
    }

    /** Acknowledged throughput with latency figures. */
    record Acked(double perSecond, double p50Micros, double p99Micros, double recordsPerFsync, double cpuMicros,
                 double fsyncMicros, double fsyncShare, double bytesPerRecord) {
    }

    private Acked appendAlways(Path logDir, int publishers, int seconds, int size) throws Exception {
        LogSettings settings = LogSettings.builder(logDir).partitions(1).fsync(FsyncPolicy.ALWAYS).build();
        byte[] v = value(size);
        try (LogTransport log = LogTransport.open(settings)) {
            log.partitions("bench");
            Recorder latencies = new Recorder(3);
            AtomicBoolean measuring = new AtomicBoolean();
            AtomicBoolean stop = new AtomicBoolean();
            LongAdder acked = new LongAdder();
            List<Thread> threads = new ArrayList<>();
            for (int i = 0; i < publishers; i++) {
                threads.add(Thread.ofVirtual().start(() -> {
                    while (!stop.get()) {
                        long t0 = System.nanoTime();
                        log.append("bench", Message.of(v)).join();
                        if (measuring.get()) {
                            latencies.recordValue((System.nanoTime() - t0) / 1000);
                            acked.increment();
                        }
                    }
                }));
            }
            TimeUnit.MILLISECONDS.sleep(500); // warm-up
            latencies.getIntervalHistogram();
            io.sluice.log.LogStats stats0 = log.stats();
            long cpu0 = CpuClock.processCpuNanos();
            long t0 = System.nanoTime();
            measuring.set(true);
            for (int s = 0; s < seconds; s++) {
                TimeUnit.SECONDS.sleep(1);
                out.printf("  ... %,d acknowledged%n", acked.sum());
            }
            measuring.set(false);
            long t = System.nanoTime() - t0;
            long cpu = CpuClock.processCpuNanos() - cpu0;
            long records = acked.sum();
            io.sluice.log.LogStats stats1 = log.stats();
            long fsyncs = stats1.fsyncs() - stats0.fsyncs();
            double fsyncMicros = (stats1.fsyncNanos() - stats0.fsyncNanos()) / 1e3 / Math.max(1, fsyncs);
            double fsyncShare = (stats1.fsyncNanos() - stats0.fsyncNanos()) / (double) t;
            stop.set(true);
            for (Thread th : threads) {
                th.join();
            }
            Histogram h = latencies.getIntervalHistogram();
            Acked a = new Acked(records / (t / 1e9), h.getValueAtPercentile(50), h.getValueAtPercentile(99),
                    fsyncs > 0 ? (double) records / fsyncs : Double.NaN, cpu / 1e3 / Math.max(1, records),
                    fsyncMicros, fsyncShare, (double) (stats1.bytes() - stats0.bytes())
                    / Math.max(1, stats1.records() - stats0.records()));
            out.printf("  %,.0f acked rec/s, p50 %,.0f us, p99 %,.0f us; the writer spent %.0f%% of the time in %,d "
                    + "fsyncs of %,.0f us each%n", a.perSecond, a.p50Micros, a.p99Micros, 100 * fsyncShare, fsyncs,
                    fsyncMicros);
            return a;
        }
    }

    private Rate rawRead(Path logDir, int n) throws IOException {
        List<Path> files;
        try (Stream<Path> all = Files.walk(logDir)) {
            files = all.filter(f -> f.toString().endsWith(".log")).sorted().toList();
        }
        ByteBuffer buf = ByteBuffer.allocateDirect(256 * 1024);
        long cpu0 = CpuClock.processCpuNanos();
        long t0 = System.nanoTime();
        long bytes = 0;
        for (Path f : files) {
            try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
                while (true) {
                    buf.clear();
                    int r = ch.read(buf);
                    if (r < 0) {
                        break;
                    }
                    bytes += r;
                }
            }
        }
        long t = System.nanoTime() - t0;
        long cpu = CpuClock.processCpuNanos() - cpu0;
        Rate r = new Rate(n / (t / 1e9), cpu / 1e3 / n);
        out.printf("  raw FileChannel read of the log's %,d bytes: %,.0f MB/s%n", bytes, bytes / (t / 1e9) / 1e6);
        return r;
    }

    private Rate readLog(Path logDir, int n) {
        LogSettings settings = LogSettings.builder(logDir).partitions(1).fsync(FsyncPolicy.NEVER).build();
        try (LogTransport log = LogTransport.open(settings)) {
            long cpu0 = CpuClock.processCpuNanos();
            long t0 = System.nanoTime();
            long offset = 0;
            long bytes = 0;
            while (offset < n) {
                List<LogRecord> chunk = log.read("bench", 0, offset, 10_000);
                if (chunk.isEmpty()) {
                    throw new IllegalStateException("log ended at offset " + offset + " of " + n);
                }
                for (LogRecord r : chunk) {
                    bytes += r.message().payload().length;
                }
                offset += chunk.size();
            }
            long t = System.nanoTime() - t0;
            long cpu = CpuClock.processCpuNanos() - cpu0;
            Rate r = new Rate(n / (t / 1e9), cpu / 1e3 / n);
            out.printf("  log read: %,.0f rec/s (%,.1f MB/s of values), %.2f us CPU/record%n", r.perSecond,
                    bytes / (t / 1e9) / 1e6, r.cpuMicros);
            return r;
        }
    }

    private static long sizeOf(Path dir) {
        try (Stream<Path> all = Files.walk(dir)) {
            return all.filter(Files::isRegularFile).mapToLong(f -> f.toFile().length()).sum();
        } catch (IOException e) {
            return -1;
        }
    }

    private static void delete(Path root) throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> all = Files.walk(root)) {
            for (Path p : all.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
