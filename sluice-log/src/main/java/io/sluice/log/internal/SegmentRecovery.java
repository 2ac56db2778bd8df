package io.sluice.log.internal;

import io.sluice.log.RecoveryEvent;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.function.Function;

/**
 * What the log does with each segment when it opens a directory, split by the partition's {@link RecoveryPoint}.
 *
 * <p><b>From the recovery point on</b> (the active segment, and any segment that rolled but was not yet known to be
 * forced): every batch from the start of the segment is read and checked (header and body CRC, record framing, dense
 * offsets). The first batch that is torn or fails a check ends the log: it and everything after it is cut off, later
 * segments are deleted, the indexes are rewritten for what remains, and a {@link RecoveryEvent.Kind#TAIL_TRUNCATED}
 * event says how many bytes were cut, from which position and offset, and why. Under fsync {@code always} nothing cut
 * was acknowledged: a batch is acknowledged only after an fsync that covered it, so an acknowledged batch is on disk
 * whole, and the cut starts at the first batch that is not.
 *
 * <p><b>When the recovery point is lost</b> (neither copy readable), every segment but the last is checked whole,
 * batch by batch, by the rules for sealed segments below ({@link #checkSealedWhole}): damage is reported and not cut,
 * since any of them may hold acknowledged records. The last one is recovered as above.
 *
 * <p><b>Below the recovery point</b> (sealed segments, forced completely before the point moved past them): they are
 * never cut. Their indexes are checked (shape, and that the last offset entry points at a sound header) and the
 * batches after the last index entry are checked to the end of the file, which must end exactly after a sound batch
 * whose next offset is the next segment's base offset. An index that does not match is rebuilt from the log
 * ({@link RecoveryEvent.Kind#INDEX_REBUILT}). A batch that fails a check is reported as
 * {@link RecoveryEvent.Kind#SEGMENT_CORRUPT} with file, position and offset; the data stays as it is and readers stop
 * before it (see {@code PartitionCursor}). Their other batches are checked when they are read, and by
 * {@code sluice log verify}.
 *
 * <p>Stateless; called by the thread opening the log, before any reader or writer exists.
 */
public final class SegmentRecovery {
    private SegmentRecovery() {
    }

    /** Where recovery reports what it found. */
    @FunctionalInterface
    public interface Events {
        void add(RecoveryEvent.Kind kind, Path file, long position, long offset, long bytes, String detail);
    }

    // ---------------------------------------------------------------- segments from the recovery point on

    /**
     * Recovers a segment at or after the recovery point (the active one, or one that rolled but was not yet known
     * forced), opened writable: checks every batch from the start, cuts the file at the first torn or bad one, and
     * rewrites the indexes as the writer would have built them for what remains.
     *
     * @return true if something was cut (the segments after this one must go)
     */
    static boolean recoverUnflushed(Segment s, int indexInterval, Events events) throws IOException {
        long size = s.size;
        try (FileChannel ch = s.io.open(s.logFile, StandardOpenOption.READ)) {
            IndexBuilder built = new IndexBuilder(s.baseOffset, indexInterval);
            BatchDecoder decoder = new BatchDecoder();
            // Framing only: the batch CRCs already cover every byte, and decoding every record of the active
            // segment would slow each open for no better answer.
            Walk w = walk(ch, 0, s.baseOffset, size, built, scan -> checkFraming(scan, decoder));
            long expected = w.expected;
            String problem = w.problem;
            long validEnd = problem == null ? size : w.position;
            if (validEnd < size) {
                s.truncateLogForRecovery(validEnd);
                events.add(RecoveryEvent.Kind.TAIL_TRUNCATED, s.logFile, validEnd, expected, size - validEnd,
                        (w.torn ? "torn batch" : "corrupt batch") + " in a segment not yet known to be on "
                                + "disk (" + problem + "); cut the log from offset " + expected);
            }
            ByteBuffer offsets = built.offsetEntries();
            ByteBuffer times = built.timeEntries();
            ByteBuffer oldOffsets = s.index.readAll();
            ByteBuffer oldTimes = s.timeIndex.readAll();
            if (!offsets.equals(oldOffsets) || !times.equals(oldTimes)) {
                // Entries a crash kept from being written are added, entries past a cut go: neither is news.
                // So is the final time entry of a segment sealed just before the crash (it is sealed again below).
                boolean cut = validEnd < size;
                boolean timesMatch = isPrefix(oldTimes, times) || cut && isPrefix(times, oldTimes)
                        || oldTimes.equals(built.sealedTimeEntries(expected));
                if (!isPrefix(oldOffsets, offsets) && !(cut && isPrefix(offsets, oldOffsets)) || !timesMatch) {
                    events.add(RecoveryEvent.Kind.INDEX_REBUILT, s.index.file(), -1, s.baseOffset, 0,
                            "indexes did not match the log; rebuilt from the log");
                }
                s.index.rewrite(offsets);
                s.timeIndex.rewrite(times);
            }
            s.recovered(validEnd, expected, built.maxTimestamp(), built.bytesSinceEntry(), built.lastTimeEntry());
            return validEnd < size;
        }
    }

    private static boolean isPrefix(ByteBuffer prefix, ByteBuffer whole) {
        return prefix.limit() <= whole.limit() && whole.slice(0, prefix.limit()).equals(prefix);
    }

    /** Walks the records of a sound batch to check their framing; null if it holds. */
    private static String checkFraming(BatchScanner scan, BatchDecoder decoder) {
        try {
            decoder.checkFraming(scan);
            return null;
        } catch (MalformedBatchException e) {
            return "records do not decode: " + e.getMessage();
        }
    }

    /** Decodes the records of a sound batch to check them; null if they decode. */
    private static String checkRecords(BatchScanner scan) {
        try {
            BatchDecoder.check(scan);
            return null;
        } catch (MalformedBatchException e) {
            return "records do not decode: " + e.getMessage();
        }
    }

    // ---------------------------------------------------------------- sealed segments

    /**
     * Checks a sealed segment, opened read-only.
     *
     * @param expectedNext the base offset of the segment after it
     * @return false if the segment holds no records and was removed
     */
    static boolean checkSealed(Segment s, long expectedNext, int indexInterval, Events events) throws IOException {
        long size = s.size;
        if (size == 0) {
            if (expectedNext == s.baseOffset) {
                s.io.deleteIfExists(s.logFile);
                s.io.deleteIfExists(s.index.file());
                s.io.deleteIfExists(s.timeIndex.file());
                events.add(RecoveryEvent.Kind.EMPTY_SEGMENT_REMOVED, s.logFile, -1, s.baseOffset, 0,
                        "sealed segment without records removed");
                return false;
            }
            events.add(RecoveryEvent.Kind.SEGMENT_CORRUPT, s.logFile, 0, s.baseOffset, 0,
                    "sealed segment is empty but offsets " + s.baseOffset + ".." + (expectedNext - 1)
                            + " should be in it");
            s.recoveredSealed(expectedNext, Long.MIN_VALUE, false);
            return true;
        }
        ByteBuffer offsets = s.index.readAll();
        int entries = offsets.limit() / 8;
        boolean indexSound = saneOffsetPrefix(offsets, size) == entries
                && Files.size(s.index.file()) % OffsetIndex.ENTRY_SIZE == 0;
        long start = 0;
        long startOffset = s.baseOffset;
        try (FileChannel ch = s.io.open(s.logFile, StandardOpenOption.READ)) {
            if (indexSound && entries > 0) {
                int rel = offsets.getInt((entries - 1) * 8);
                int pos = offsets.getInt((entries - 1) * 8 + 4);
                indexSound = headerMatches(ch, s.baseOffset, rel, pos, size);
                start = pos;
                startOffset = s.baseOffset + rel;
            }
            if (!indexSound) {
                events.add(RecoveryEvent.Kind.INDEX_REBUILT, s.index.file(), -1, s.baseOffset, 0,
                        "offset index does not match the log; rebuilt from the log");
                rebuildIndexes(s, ch, indexInterval, expectedNext, events);
                return true;
            }
            Walk w = walk(ch, start, startOffset, size, null, SegmentRecovery::checkRecords);
            long expected = w.expected;
            long maxTs = w.maxTimestamp;
            if (w.problem != null) {
                reportCorrupt(s, ch, w, expectedNext, events);
                s.recoveredSealed(expectedNext, maxTs, false);
                return true;
            }
            reportGap(s, expected, expectedNext, events);
            // The final time entry carries the segment's max timestamp at its record count.
            ByteBuffer times = s.timeIndex.readAll();
            int t = times.limit() / TimeIndex.ENTRY_SIZE;
            int count = (int) (expected - s.baseOffset);
            boolean timeSound = t > 0 && times.getInt((t - 1) * 12 + 8) == count
                    && times.getLong((t - 1) * 12) >= maxTs && saneTimePrefix(times, count) == t
                    && Files.size(s.timeIndex.file()) % TimeIndex.ENTRY_SIZE == 0;
            if (!timeSound) {
                events.add(RecoveryEvent.Kind.INDEX_REBUILT, s.timeIndex.file(), -1, s.baseOffset, 0,
                        "time index does not match the log; rebuilt from the log");
                rebuildIndexes(s, ch, indexInterval, expectedNext, events);
                return true;
            }
            s.recoveredSealed(expected, times.getLong((t - 1) * 12), false);
            return true;
        }
    }

    /**
     * Checks a sealed segment batch by batch from its start, for when the recovery point is lost and nothing is known
     * about which segments were forced: damage anywhere in it is found now and reported as
     * {@link RecoveryEvent.Kind#SEGMENT_CORRUPT} (never cut: it may hold acknowledged records); indexes that differ from
     * what the walk builds are rebuilt.
     *
     * @param expectedNext the base offset of the segment after it
     * @return false if the segment holds no records and was removed
     */
    static boolean checkSealedWhole(Segment s, long expectedNext, int indexInterval, Events events)
            throws IOException {
        if (s.size == 0) {
            return checkSealed(s, expectedNext, indexInterval, events);
        }
        ByteBuffer offsets = s.index.readAll();
        ByteBuffer times = s.timeIndex.readAll();
        boolean whole = Files.size(s.index.file()) % OffsetIndex.ENTRY_SIZE == 0
                && Files.size(s.timeIndex.file()) % TimeIndex.ENTRY_SIZE == 0;
        try (FileChannel ch = s.io.open(s.logFile, StandardOpenOption.READ)) {
            IndexBuilder built = new IndexBuilder(s.baseOffset, indexInterval);
            Walk w = walk(ch, 0, s.baseOffset, s.size, built, SegmentRecovery::checkRecords);
            if (w.problem != null) {
                reportCorrupt(s, ch, w, expectedNext, events);
                s.recoveredSealed(expectedNext, built.maxTimestamp(), false);
                return true;
            }
            built.seal(w.expected);
            reportGap(s, w.expected, expectedNext, events);
            if (!whole || !built.offsetEntries().equals(offsets) || !built.timeEntries().equals(times)) {
                events.add(RecoveryEvent.Kind.INDEX_REBUILT, s.index.file(), -1, s.baseOffset, 0,
                        "indexes did not match the log; rebuilt from the log");
                replaceIndexes(s, built);
            }
            s.recoveredSealed(w.expected, built.maxTimestamp(), true);
            return true;
        }
    }

    /**
     * A check of consecutive batches: the offset after the last sound one, the largest timestamp among them, where the
     * check stopped and why (null if at the end), and whether the bytes there look cut short rather than changed.
     */
    private record Walk(long expected, long maxTimestamp, long position, String problem, boolean torn) {
    }

    /**
     * Checks every batch of a segment file from byte {@code start} (where offset {@code startOffset} starts) to
     * {@code size}: both CRCs, dense offsets, and the records by {@code records}; stops at the first that fails.
     *
     * @param built   gets every sound batch, or null
     * @param records checks the records of a batch whose CRCs hold; null if they are sound, else what is wrong
     */
    private static Walk walk(FileChannel ch, long start, long startOffset, long size, IndexBuilder built,
                             Function<BatchScanner, String> records) throws IOException {
        BatchScanner scan = new BatchScanner().reset((dst, pos) -> ch.read(dst, pos), start, size, true);
        long expected = startOffset;
        long maxTs = Long.MIN_VALUE;
        String problem = null;
        while (scan.next()) {
            if (scan.baseOffset() != expected) {
                problem = "batch base offset " + scan.baseOffset() + " where " + expected + " was expected";
                break;
            }
            problem = records.apply(scan);
            if (problem != null) {
                break;
            }
            if (built != null) {
                built.add(scan.position(), scan.baseOffset(), scan.length(), scan.maxTimestamp());
            }
            maxTs = Math.max(maxTs, scan.maxTimestamp());
            expected = scan.nextOffset();
        }
        if (problem == null) {
            problem = scan.problem();
        }
        return new Walk(expected, maxTs, scan.position(), problem, problem != null && scan.tornTail());
    }

    /**
     * Damage in a sealed segment: reported, never cut (readers stop before it), with where readable batches resume,
     * so that an operator who reads the event knows which offset skips exactly the damage.
     */
    private static void reportCorrupt(Segment s, FileChannel ch, Walk w, long expectedNext, Events events)
            throws IOException {
        BatchScanner scan = new BatchScanner().reset((dst, pos) -> ch.read(dst, pos), w.position, s.size, true);
        // A batch whose CRCs hold but whose offsets or records are wrong has a length that can be trusted.
        long from = scan.next() ? scan.end() : scan.damagedEnd();
        String resume;
        if (scan.resync(from, w.expected + 1, expectedNext)) {
            resume = "readable batches resume at offset " + scan.baseOffset() + " (byte " + scan.position() + ")";
        } else {
            resume = "readable batches resume at offset " + expectedNext + " (the start of the next segment)";
        }
        events.add(RecoveryEvent.Kind.SEGMENT_CORRUPT, s.logFile, w.position, w.expected, 0,
                "sealed segment: " + w.problem + "; " + resume);
    }

    /** A sound sealed segment whose last offset does not join up with the next segment's base. */
    private static void reportGap(Segment s, long next, long expectedNext, Events events) {
        if (next != expectedNext) {
            events.add(RecoveryEvent.Kind.OFFSET_GAP, s.logFile, s.size, next, 0, "segment ends before offset "
                    + next + " but the next segment starts at " + expectedNext);
        }
    }

    /** Rebuilds both indexes of a sealed segment from a full walk, replacing the files atomically. */
    private static void rebuildIndexes(Segment s, FileChannel ch, int indexInterval, long expectedNext,
                                       Events events) throws IOException {
        IndexBuilder built = new IndexBuilder(s.baseOffset, indexInterval);
        Walk w = walk(ch, 0, s.baseOffset, s.size, built, SegmentRecovery::checkRecords);
        if (w.problem != null) {
            reportCorrupt(s, ch, w, expectedNext, events);
        } else {
            built.seal(w.expected);
            reportGap(s, w.expected, expectedNext, events);
        }
        replaceIndexes(s, built);
        s.recoveredSealed(w.problem == null ? w.expected : expectedNext, built.maxTimestamp(), w.problem == null);
    }

    private static void replaceIndexes(Segment s, IndexBuilder built) throws IOException {
        replace(s.io, s.index.file(), built.offsetEntries());
        replace(s.io, s.timeIndex.file(), built.timeEntries());
        s.index.refreshEntries();
        s.timeIndex.refreshEntries();
    }

    private static void replace(FileIo io, Path file, ByteBuffer content) throws IOException {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try (FileChannel out = io.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            while (content.hasRemaining()) {
                out.write(content);
            }
            out.force(true);
        }
        io.replace(tmp, file);
    }

    // ---------------------------------------------------------------- shared checks

    /** How many leading offset entries have strictly increasing, positive fields inside the file. */
    static int saneOffsetPrefix(ByteBuffer offsets, long logSize) {
        int n = offsets.limit() / 8;
        int prevRel = 0;
        int prevPos = 0;
        for (int i = 0; i < n; i++) {
            int rel = offsets.getInt(i * 8);
            int pos = offsets.getInt(i * 8 + 4);
            if (rel <= prevRel || pos <= prevPos || pos >= logSize) {
                return i;
            }
            prevRel = rel;
            prevPos = pos;
        }
        return n;
    }

    /** How many leading time entries have non-decreasing T and strictly increasing R up to {@code count}. */
    static int saneTimePrefix(ByteBuffer times, int count) {
        int n = times.limit() / TimeIndex.ENTRY_SIZE;
        long prevT = Long.MIN_VALUE;
        int prevR = 0;
        for (int i = 0; i < n; i++) {
            long t = times.getLong(i * 12);
            int r = times.getInt(i * 12 + 8);
            if (t < prevT || r <= prevR || r > count) {
                return i;
            }
            prevT = t;
            prevR = r;
        }
        return n;
    }

    /** The slot among the first {@code n} offset entries whose relative offset is {@code relative}, or -1. */
    private static int slotOf(ByteBuffer offsets, int n, int relative) {
        int lo = 0;
        int hi = n - 1;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            int r = offsets.getInt(mid * 8);
            if (r == relative) {
                return mid;
            }
            if (r < relative) {
                lo = mid + 1;
            } else {
                hi = mid - 1;
            }
        }
        return -1;
    }

    /** True if a sound batch header with base offset {@code base + relative} starts at {@code position}. */
    private static boolean headerMatches(FileChannel ch, long base, int relative, int position, long size)
            throws IOException {
        if (position + (long) BatchFormat.HEADER_SIZE > size) {
            return false;
        }
        ByteBuffer header = ByteBuffer.allocate(BatchFormat.HEADER_SIZE);
        while (header.hasRemaining()) {
            if (ch.read(header, position + header.position()) < 0) {
                return false;
            }
        }
        return BatchFormat.checkHeader(header, 0) == null
                && BatchFormat.baseOffset(header, 0) == base + relative
                && position + (long) BatchFormat.length(header, 0) <= size;
    }

    /**
     * Builds index contents from a walk over a segment, by the same rule the writer follows, so that a rebuilt
     * index equals the one the writer would have written. Not thread-safe.
     */
    public static final class IndexBuilder {
        private final long baseOffset;
        private final int interval;
        private ByteBuffer offsets = ByteBuffer.allocate(1024);
        private ByteBuffer times = ByteBuffer.allocate(1536);
        private long bytesSince;
        private long maxSoFar = Long.MIN_VALUE;
        private long lastT = Long.MIN_VALUE;

        public IndexBuilder(long baseOffset, int interval) {
            this.baseOffset = baseOffset;
            this.interval = interval;
        }

        /** Accounts for the batch at {@code position}, adding entries before it as the writer would. */
        public void add(long position, long batchBase, int length, long batchMaxTimestamp) {
            if (position > 0 && bytesSince >= interval) {
                int relative = (int) (batchBase - baseOffset);
                if (maxSoFar > lastT) {
                    times = ensure(times, 12).putLong(maxSoFar).putInt(relative);
                    lastT = maxSoFar;
                }
                offsets = ensure(offsets, 8).putInt(relative).putInt((int) position);
                bytesSince = 0;
            }
            bytesSince += length;
            maxSoFar = Math.max(maxSoFar, batchMaxTimestamp);
        }

        /** The time index with the final entry a seal before {@code nextOffset} would add, leaving this one as is. */
        ByteBuffer sealedTimeEntries(long nextOffset) {
            int count = (int) (nextOffset - baseOffset);
            ByteBuffer plain = timeEntries();
            if (count <= 0) {
                return plain;
            }
            ByteBuffer sealed = ByteBuffer.allocate(plain.remaining() + 12);
            sealed.put(plain).putLong(Math.max(maxSoFar, lastT)).putInt(count);
            return sealed.flip();
        }

        /** Adds the final time entry of a sealed segment ending before {@code nextOffset}. */
        public void seal(long nextOffset) {
            int count = (int) (nextOffset - baseOffset);
            if (count > 0) {
                times = ensure(times, 12).putLong(Math.max(maxSoFar, lastT)).putInt(count);
            }
        }

        public long maxTimestamp() {
            return maxSoFar;
        }

        long bytesSinceEntry() {
            return bytesSince;
        }

        long lastTimeEntry() {
            return lastT;
        }

        /** The offset index as it should be on disk. */
        public ByteBuffer offsetEntries() {
            return offsets.duplicate().flip();
        }

        /** The time index as it should be on disk. */
        public ByteBuffer timeEntries() {
            return times.duplicate().flip();
        }

        private static ByteBuffer ensure(ByteBuffer b, int more) {
            if (b.remaining() >= more) {
                return b;
            }
            ByteBuffer bigger = ByteBuffer.allocate(Math.max(b.capacity() * 2, b.position() + more));
            b.flip();
            bigger.put(b);
            return bigger;
        }
    }
}
