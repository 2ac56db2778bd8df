package io.sluice.log.tools;

import io.sluice.log.internal.BatchDecoder;
import io.sluice.log.internal.BatchScanner;
import io.sluice.log.internal.DirectoryLock;
import io.sluice.log.internal.GroupOffsets;
import io.sluice.log.internal.MalformedBatchException;
import io.sluice.log.internal.Names;
import io.sluice.log.internal.PartitionLog;
import io.sluice.log.internal.Segment;
import io.sluice.log.internal.TopicLog;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;

/**
 * {@code sluice log verify DIR}: reads every batch of every segment and checks both CRCs, that the records decode,
 * that offsets are dense within and across segments, that the header timestamps match the records, and that each
 * offset and time index is exactly what the writer's rule gives for its log; checks the group offset journals too.
 * Changes nothing: a torn tail is reported (recovery cuts it on the next open), not cut.
 *
 * <p>Stateless; each call reads the directory afresh.
 */
public final class LogVerifier {
    private LogVerifier() {
    }

    /**
     * The outcome of a verification.
     *
     * @param sound    true if nothing is wrong
     * @param problems how many problems were found
     * @param batches  batches checked
     * @param records  records checked
     * @param bytes    log bytes checked
     */
    public record Result(boolean sound, int problems, long batches, long records, long bytes) {
    }

    /** Verifies the log in {@code root}, writing one line per partition and per problem to {@code out}. */
    public static Result verify(Path root, PrintStream out) throws IOException {
        if (!Files.isDirectory(root)) {
            out.println("problem: " + root + " is not a directory");
            return new Result(false, 1, 0, 0, 0);
        }
        Counter c = new Counter(out);
        try (DirectoryLock.ReadAccess access = LogLayout.lockForReading(root, out)) {
            for (LogLayout.TopicDir topic : LogLayout.topics(root)) {
                verifyTopic(topic, c);
            }
        }
        boolean sound = c.problems == 0;
        out.printf("%s: %d batches, %d records, %d bytes checked; %s%n", root, c.batches, c.records, c.bytes,
                sound ? "the log is sound" : c.problems + " problem" + (c.problems == 1 ? "" : "s") + " found");
        return new Result(sound, c.problems, c.batches, c.records, c.bytes);
    }

    private static final class Counter {
        final PrintStream out;
        int problems;
        long batches;
        long records;
        long bytes;

        Counter(PrintStream out) {
            this.out = out;
        }

        void problem(String text) {
            problems++;
            out.println("  problem: " + text);
        }
    }

    private static void verifyTopic(LogLayout.TopicDir topic, Counter c) throws IOException {
        if (topic.partitions() <= 0) {
            c.problem("topic directory " + topic.dir() + " has no valid " + TopicLog.META_FILE);
            return;
        }
        long[] ends = new long[topic.partitions()];
        for (int p = 0; p < topic.partitions(); p++) {
            Path dir = topic.dir().resolve(Integer.toString(p));
            if (!Files.isDirectory(dir)) {
                c.problem(topic.name() + "/" + p + ": partition directory " + dir + " is missing");
                continue;
            }
            ends[p] = verifyPartition(topic.name(), p, dir, c);
        }
        Path groups = topic.dir().resolve(TopicLog.GROUPS_DIR);
        if (Files.isDirectory(groups)) {
            try (DirectoryStream<Path> files = Files.newDirectoryStream(groups, "*" + GroupOffsets.SUFFIX)) {
                for (Path f : files) {
                    verifyGroup(topic, f, ends, c);
                }
            }
        }
    }

    /** Verifies one partition; returns its end offset. */
    private static long verifyPartition(String topic, int partition, Path dir, Counter c) throws IOException {
        List<Long> bases = PartitionLog.segmentBases(dir);
        String name = topic + "/" + partition;
        if (bases.isEmpty()) {
            c.problem(name + ": no segment in " + dir);
            return 0;
        }
        int before = c.problems;
        io.sluice.log.internal.RecoveryPoint.Stored stored = io.sluice.log.internal.RecoveryPoint.readBoth(dir);
        boolean pointLost = stored.lost() && bases.size() > 1;
        if (pointLost) {
            c.problem(name + ": neither copy of the recovery point can be read; the next open checks every segment "
                    + "batch by batch and cuts nothing but the last");
        } else if (stored.sound() == 1) {
            c.out.println("  note: " + name + ": one copy of the recovery point is missing or damaged; the next open "
                    + "rewrites it from the other");
        }
        long recoveryPoint = stored.offset() >= 0 ? stored.offset() : bases.get(0);
        long expected = bases.get(0);
        long end = expected;
        long records = 0;
        long bytes = 0;
        for (int i = 0; i < bases.size(); i++) {
            long base = bases.get(i);
            boolean last = i == bases.size() - 1;
            Path log = dir.resolve(Segment.fileName(base, Segment.LOG_SUFFIX));
            if (expected >= 0 && base != expected) {
                c.problem(name + ": " + log.getFileName() + " starts at offset " + base + " but the previous segment "
                        + "ends before offset " + expected);
            }
            boolean trusted = !last && (pointLost || bases.get(i + 1) <= recoveryPoint);
            SegmentCheck s = verifySegment(name, dir, base, last ? -1 : bases.get(i + 1), trusted, c);
            records += s.records;
            bytes += s.bytes;
            expected = s.next;
            if (expected >= 0) {
                end = expected;
            }
        }
        if (c.problems == before) {
            c.out.printf("%s: %d segment%s, offsets %d..%d, %d records, %d bytes: ok%n", name, bases.size(),
                    bases.size() == 1 ? "" : "s", bases.get(0), end - 1, records, bytes);
        }
        return end;
    }

    private record SegmentCheck(long next, long records, long bytes) {
    }

    /**
     * @param nextBase the base offset of the next segment, or -1 for the last one
     * @param trusted  below the recovery point: sealed and forced, so damage is corruption that readers stop at (the
     *                 walk goes on after it, reporting each damaged region and where readable batches resume);
     *                 otherwise the next open cuts the log at the first bad batch
     */
    private static SegmentCheck verifySegment(String name, Path dir, long base, long nextBase, boolean trusted,
                                              Counter c) throws IOException {
        boolean last = nextBase < 0;
        Path logFile = dir.resolve(Segment.fileName(base, Segment.LOG_SUFFIX));
        String label = name + " " + logFile.getFileName();
        long next = base;
        long records = 0;
        boolean damaged = false;
        try (FileChannel ch = FileChannel.open(logFile, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size == 0 && !last) {
                c.problem(label + ": sealed segment is empty");
            }
            ByteBuffer offsets = readFile(dir.resolve(Segment.fileName(base, Segment.INDEX_SUFFIX)));
            ByteBuffer times = readFile(dir.resolve(Segment.fileName(base, Segment.TIME_INDEX_SUFFIX)));
            BatchScanner scan = new BatchScanner().reset((dst, pos) -> ch.read(dst, pos), 0, size, true);
            BatchDecoder decoder = new BatchDecoder();
            List<long[]> batches = new java.util.ArrayList<>();
            long checked = 0;
            while (true) {
                Damage damage;
                if (scan.next()) {
                    c.batches++;
                    if (scan.baseOffset() != next) {
                        c.problem(label + " at byte " + scan.position() + ": batch starts at offset "
                                + scan.baseOffset() + " where " + next + " was expected");
                        damaged = true;
                        break;
                    }
                    String bad = checkRecords(scan, decoder);
                    if (bad == null) {
                        batches.add(new long[] {scan.position(), scan.baseOffset(), scan.length(),
                                scan.maxTimestamp()});
                        records += scan.count();
                        checked += scan.length();
                        next = scan.nextOffset();
                        continue;
                    }
                    // Both CRCs held, so the batch's length is right: the search for sound batches starts after it.
                    damage = Damage.at(scan, next, scan.end(), bad, nextBase);
                } else if (scan.problem() == null) {
                    break;
                } else {
                    damage = Damage.at(scan, next, scan.damagedEnd(), scan.problem(), nextBase);
                }
                damaged = true;
                String at = label + " at byte " + damage.position() + " (offset " + damage.firstOffset() + "): ";
                if (trusted) {
                    c.problem(at + damage.problem() + "; sealed segment: readers stop before this batch; "
                            + damage.resumeText());
                    if (damage.resumesInFile()) {
                        next = damage.resumeOffset();
                        continue;
                    }
                } else if (damage.torn() && !damage.resumesInFile()) {
                    c.problem(at + "torn tail of " + (size - damage.position()) + " bytes (" + damage.problem()
                            + "); recovery cuts it on the next open");
                } else {
                    c.problem(at + damage.problem() + "; recovery cuts the log from here on the next open"
                            + (damage.resumesInFile() ? ", with the sound batches after it (from offset "
                            + damage.resumeOffset() + ", byte " + damage.resumePosition() + ")" : ""));
                }
                break;
            }
            c.records += records;
            c.bytes += checked;
            verifyIndexes(label, base, last, batches, next, offsets, times, !damaged, c);
            // After damage the segment's true end is unknown: the next segment's base is not compared with it.
            return new SegmentCheck(damaged ? -1 : next, records, size);
        }
    }

    private static String checkRecords(BatchScanner scan, BatchDecoder decoder) {
        try {
            decoder.open(scan);
            long max = Long.MIN_VALUE;
            boolean first = true;
            while (decoder.hasNext()) {
                long ts = decoder.next().timestampMillis();
                if (first && ts != scan.firstTimestamp()) {
                    return "first record's timestamp " + ts + " differs from the header's " + scan.firstTimestamp();
                }
                first = false;
                max = Math.max(max, ts);
            }
            if (max != scan.maxTimestamp()) {
                return "largest record timestamp " + max + " differs from the header's " + scan.maxTimestamp();
            }
            return null;
        } catch (MalformedBatchException e) {
            return "records do not decode: " + e.getMessage();
        }
    }

    /**
     * Checks every index entry against the log: an offset entry must point at the start of the batch with the offset
     * it names; a time entry (T, R) must sit at an offset-index point (or at the record count, for the final entry of
     * a sealed segment) and T must be exactly the largest timestamp before R; both files strictly increase in offset.
     * A sealed segment's time index ends with (its max timestamp, its record count).
     */
    private static void verifyIndexes(String label, long base, boolean last, List<long[]> batches, long next,
                                      ByteBuffer offsets, ByteBuffer times, boolean complete, Counter c) {
        if (!complete) {
            return; // the log is reported already; indexes of a damaged segment cannot be compared
        }
        java.util.Map<Long, Integer> batchAt = new java.util.HashMap<>();
        java.util.Map<Long, Long> maxBefore = new java.util.HashMap<>();
        long max = Long.MIN_VALUE;
        for (int i = 0; i < batches.size(); i++) {
            long[] b = batches.get(i);
            batchAt.put(b[0], i);
            maxBefore.put(b[1] - base, max);
            max = Math.max(max, b[3]);
        }
        long count = next - base;
        if (offsets.limit() % 8 != 0) {
            c.problem(label + ": offset index has a partial entry");
        }
        java.util.Set<Long> indexed = new java.util.HashSet<>();
        long prevRel = 0;
        for (int i = 0; i < offsets.limit() / 8; i++) {
            long rel = offsets.getInt(i * 8);
            long pos = offsets.getInt(i * 8 + 4);
            Integer batch = batchAt.get(pos);
            if (rel <= prevRel || pos <= 0 || batch == null || batches.get(batch)[1] != base + rel) {
                c.problem(label + ": offset index entry " + i + " (offset " + (base + rel) + " at byte " + pos
                        + ") does not point at the start of that batch");
                return;
            }
            indexed.add(rel);
            prevRel = rel;
        }
        if (times.limit() % 12 != 0) {
            c.problem(label + ": time index has a partial entry");
        }
        int n = times.limit() / 12;
        long prevT = Long.MIN_VALUE;
        long prevR = 0;
        for (int i = 0; i < n; i++) {
            long t = times.getLong(i * 12);
            long r = times.getInt(i * 12 + 8);
            boolean isFinal = !last && i == n - 1;
            Long want = isFinal ? Long.valueOf(max) : maxBefore.get(r);
            boolean atPoint = isFinal ? r == count : indexed.contains(r);
            if (t < prevT || r <= prevR || !atPoint || want == null || t != want) {
                c.problem(label + ": time index entry " + i + " (" + t + " before offset " + (base + r) + ") does not "
                        + "match the log" + (want == null ? "" : " (largest timestamp before it is " + want + ")"));
                return;
            }
            prevT = t;
            prevR = r;
        }
        if (!last && count > 0 && (n == 0 || times.getInt((n - 1) * 12 + 8) != count)) {
            c.problem(label + ": sealed segment's time index lacks its final entry (max timestamp at offset "
                    + next + ")");
        }
    }

    private static ByteBuffer readFile(Path file) throws IOException {
        if (!Files.exists(file)) {
            return ByteBuffer.allocate(0);
        }
        return ByteBuffer.wrap(Files.readAllBytes(file));
    }

    private static void verifyGroup(LogLayout.TopicDir topic, Path file, long[] ends, Counter c) throws IOException {
        String file0 = file.getFileName().toString();
        String group = Names.decode(file0.substring(0, file0.length() - GroupOffsets.SUFFIX.length()));
        byte[] bytes = Files.readAllBytes(file);
        String label = topic.name() + " group " + group;
        if (bytes.length % 24 != 0) {
            c.problem(label + ": " + file + " ends in a partial commit record (" + bytes.length % 24
                    + " bytes; ignored when the log opens)");
        }
        GroupOffsets offsets = GroupOffsets.load(topic.name(), group, file, topic.partitions());
        for (int i = 0; i < bytes.length / 24; i++) {
            int crc = ByteBuffer.wrap(bytes, i * 24 + 20, 4).getInt();
            if (crc != io.sluice.log.internal.BatchFormat.crc(bytes, i * 24, 20)) {
                c.problem(label + ": commit record " + i + " in " + file + " fails its CRC");
            }
        }
        StringBuilder line = new StringBuilder(label).append(": committed");
        for (int p = 0; p < ends.length; p++) {
            long committed = offsets.committed(p);
            line.append(' ').append(p).append('=').append(committed < 0 ? "-" : Long.toString(committed));
            if (committed > ends[p]) {
                c.problem(label + ": partition " + p + " committed offset " + committed + " is past its end " + ends[p]
                        + " (moved back to the end when the log opens)");
            }
        }
        c.out.println(line);
    }
}
