package io.sluice.log.tools;

import io.sluice.Message;
import io.sluice.log.Compression;
import io.sluice.log.internal.BatchDecoder;
import io.sluice.log.internal.BatchScanner;
import io.sluice.log.internal.DirectoryLock;
import io.sluice.log.internal.GroupOffsets;
import io.sluice.log.internal.MalformedBatchException;
import io.sluice.log.internal.Names;
import io.sluice.log.internal.OffsetIndex;
import io.sluice.log.internal.PartitionLog;
import io.sluice.log.internal.Segment;
import io.sluice.log.internal.TimeIndex;
import io.sluice.log.internal.TopicLog;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.List;

/**
 * {@code sluice log inspect DIR}: what a log directory holds, in the manner of {@code kafka-dump-log}: topics, their
 * groups' committed offsets, and per partition its segments with offsets, sizes, record counts, timestamps and index
 * sizes; optionally every batch (position, offsets, timestamps, codec, sizes, CRC status) and every record. Reads the
 * files directly and changes nothing. A damaged region is listed with the offset and byte position where readable
 * batches resume after it, and the walk goes on from there; {@link Result#sound()} says whether any was found.
 *
 * <p>Stateless; each call reads the directory afresh.
 */
public final class LogInspector {
    private LogInspector() {
    }

    /**
     * What to show.
     *
     * @param topic      only this topic, or null for all
     * @param partition  only this partition, or -1 for all
     * @param batches    list every batch
     * @param records    list every record (implies batches)
     * @param valueBytes how many bytes of each value to print
     */
    public record Options(String topic, int partition, boolean batches, boolean records, int valueBytes) {
        /** Segments only, every topic and partition. */
        public static Options summary() {
            return new Options(null, -1, false, false, 32);
        }
    }

    /**
     * What an inspection found wrong.
     *
     * @param damagedRegions damaged regions of segment files (batches that are torn or fail a check)
     */
    public record Result(int damagedRegions) {
        /** True if every batch inspected is sound. */
        public boolean sound() {
            return damagedRegions == 0;
        }
    }

    /** Prints what {@code root} holds. */
    public static Result inspect(Path root, Options options, PrintStream out) throws IOException {
        if (!Files.isDirectory(root)) {
            throw new IOException(root + " is not a directory");
        }
        out.println("log " + root.toAbsolutePath());
        int[] damaged = new int[1];
        try (DirectoryLock.ReadAccess access = LogLayout.lockForReading(root, out)) {
            List<LogLayout.TopicDir> topics = LogLayout.topics(root);
            if (topics.isEmpty()) {
                out.println("(no topics)");
            }
            for (LogLayout.TopicDir topic : topics) {
                if (options.topic() == null || options.topic().equals(topic.name())) {
                    inspectTopic(topic, options, out, damaged);
                }
            }
        }
        if (damaged[0] > 0) {
            out.printf("%d damaged region%s found; 'sluice log verify %s' says what the next open does about "
                    + "each%n", damaged[0], damaged[0] == 1 ? "" : "s", root);
        }
        return new Result(damaged[0]);
    }

    private static void inspectTopic(LogLayout.TopicDir topic, Options options, PrintStream out, int[] damaged)
            throws IOException {
        out.printf("topic %s: %d partitions (%s)%n", topic.name(), topic.partitions(), topic.dir());
        if (topic.partitions() <= 0) {
            out.println("  no valid " + TopicLog.META_FILE);
            return;
        }
        Path groups = topic.dir().resolve(TopicLog.GROUPS_DIR);
        if (Files.isDirectory(groups)) {
            try (DirectoryStream<Path> files = Files.newDirectoryStream(groups, "*" + GroupOffsets.SUFFIX)) {
                for (Path f : files) {
                    String file = f.getFileName().toString();
                    String group = Names.decode(file.substring(0, file.length() - GroupOffsets.SUFFIX.length()));
                    GroupOffsets offsets = GroupOffsets.load(topic.name(), group, f, topic.partitions());
                    StringBuilder line = new StringBuilder("  group ").append(group).append(": committed");
                    for (int p = 0; p < topic.partitions(); p++) {
                        long c = offsets.committed(p);
                        line.append(' ').append(p).append('=').append(c < 0 ? "-" : Long.toString(c));
                    }
                    out.println(line);
                }
            }
        }
        for (int p = 0; p < topic.partitions(); p++) {
            if (options.partition() < 0 || options.partition() == p) {
                damaged[0] += inspectPartition(topic.name(), p, topic.dir().resolve(Integer.toString(p)), options,
                        out);
            }
        }
    }

    /** Prints one partition; returns how many damaged regions its segments hold. */
    private static int inspectPartition(String topic, int partition, Path dir, Options options, PrintStream out)
            throws IOException {
        if (!Files.isDirectory(dir)) {
            out.printf("  partition %d: missing (%s)%n", partition, dir);
            return 0;
        }
        List<Long> bases = PartitionLog.segmentBases(dir);
        out.printf("  partition %d: %d segment%s%n", partition, bases.size(), bases.size() == 1 ? "" : "s");
        BatchDecoder decoder = new BatchDecoder();
        int damaged = 0;
        for (int i = 0; i < bases.size(); i++) {
            long base = bases.get(i);
            long nextBase = i + 1 < bases.size() ? bases.get(i + 1) : -1;
            Path log = dir.resolve(Segment.fileName(base, Segment.LOG_SUFFIX));
            long indexEntries = size(dir.resolve(Segment.fileName(base, Segment.INDEX_SUFFIX)))
                    / OffsetIndex.ENTRY_SIZE;
            long timeEntries = size(dir.resolve(Segment.fileName(base, Segment.TIME_INDEX_SUFFIX)))
                    / TimeIndex.ENTRY_SIZE;
            try (FileChannel ch = FileChannel.open(log, StandardOpenOption.READ)) {
                long size = ch.size();
                BatchScanner scan = new BatchScanner().reset((dst, pos) -> ch.read(dst, pos), 0, size, true);
                long batches = 0;
                long records = 0;
                long next = base;
                long first = Long.MAX_VALUE;
                long last = Long.MIN_VALUE;
                StringBuilder detail = new StringBuilder();
                while (true) {
                    if (!scan.next()) {
                        if (scan.problem() == null) {
                            break;
                        }
                        // Damage: listed whether or not batches are, with where the walk picks up again.
                        Damage d = Damage.at(scan, next, scan.damagedEnd(), scan.problem(), nextBase);
                        damaged++;
                        detail.append(String.format("      damaged at byte %d (offset %d): %s; %s%n", d.position(),
                                d.firstOffset(), d.problem(), d.resumeText()));
                        if (!d.resumesInFile()) {
                            break;
                        }
                        continue;
                    }
                    batches++;
                    records += scan.count();
                    next = scan.nextOffset();
                    first = Math.min(first, scan.firstTimestamp());
                    last = Math.max(last, scan.maxTimestamp());
                    if (options.batches() || options.records()) {
                        detail.append(String.format("      batch at byte %d: offsets %d..%d (%d record%s), first %s, "
                                        + "max %s, %s, %d bytes (body %d raw), crc ok%n", scan.position(),
                                scan.baseOffset(), scan.nextOffset() - 1, scan.count(), scan.count() == 1 ? "" : "s",
                                Instant.ofEpochMilli(scan.firstTimestamp()), Instant.ofEpochMilli(scan.maxTimestamp()),
                                Compression.values()[scan.codec()].name().toLowerCase(), scan.length(),
                                scan.rawBodyLength()));
                    }
                    if (options.records()) {
                        appendRecords(scan, decoder, options.valueBytes(), detail);
                    }
                }
                out.printf("    segment %s: offsets %d..%d, %d records in %d batches, %d bytes, timestamps %s .. %s, "
                                + "%d index entries, %d time index entries%n", log.getFileName(), base, next - 1,
                        records, batches, size, batches == 0 ? "-" : Instant.ofEpochMilli(first),
                        batches == 0 ? "-" : Instant.ofEpochMilli(last), indexEntries, timeEntries);
                out.print(detail);
            }
        }
        return damaged;
    }

    private static void appendRecords(BatchScanner scan, BatchDecoder decoder, int valueBytes, StringBuilder out) {
        try {
            decoder.open(scan);
            while (decoder.hasNext()) {
                long offset = decoder.nextOffset();
                Message m = decoder.next();
                out.append(String.format("        offset %d: %s key=%s id=%s headers=%s value=%d bytes %s%n", offset,
                        Instant.ofEpochMilli(m.timestampMillis()), m.key() == null ? "-" : quote(m.key()), m.id(),
                        m.headers(), m.payload().length, preview(m.payload(), valueBytes)));
            }
        } catch (MalformedBatchException e) {
            out.append("        records do not decode: ").append(e.getMessage()).append('\n');
        }
    }

    private static String quote(String s) {
        return '"' + s + '"';
    }

    /** Printable text as is, anything else as hex. */
    private static String preview(byte[] value, int max) {
        int n = Math.min(max, value.length);
        boolean text = true;
        for (int i = 0; i < n; i++) {
            int b = value[i] & 0xff;
            if (b < 0x20 && b != '\n' && b != '\t' || b == 0x7f) {
                text = false;
                break;
            }
        }
        String more = value.length > n ? "..." : "";
        if (text) {
            return quote(new String(value, 0, n, StandardCharsets.UTF_8).replace("\n", "\\n")) + more;
        }
        StringBuilder hex = new StringBuilder("0x");
        for (int i = 0; i < n; i++) {
            hex.append(String.format("%02x", value[i]));
        }
        return hex + more;
    }

    private static long size(Path file) throws IOException {
        return Files.exists(file) ? Files.size(file) : 0;
    }
}
