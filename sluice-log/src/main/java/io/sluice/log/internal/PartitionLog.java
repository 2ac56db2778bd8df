package io.sluice.log.internal;

import io.sluice.Message;
import io.sluice.log.FsyncPolicy;
import io.sluice.log.LogSettings;
import io.sluice.log.RecoveryEvent;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * One partition of a topic: a directory of segments, the last of which (the active segment) takes appends.
 *
 * <pre>
 *  &lt;dir&gt;/&lt;topic&gt;/&lt;partition&gt;/
 *      00000000000000000000.log        batches with offsets 0 .. 4095      (sealed: forced, never written again)
 *      00000000000000000000.index      sparse offset index
 *      00000000000000000000.timeindex  time index, ends with the segment's max timestamp
 *      00000000000000004096.log        batches from offset 4096 on         (active: appends go here)
 *      00000000000000004096.index
 *      00000000000000004096.timeindex
 * </pre>
 *
 * <p>Reads take no lock: the segment list is an immutable array replaced on roll and retention, and each segment
 * publishes how far readers may read ({@link Segment#readLimit()}). The {@link #highWatermark()} is the offset after
 * the last record readers may see.
 *
 * <p>Threads: {@link #open} runs on the thread opening the log; every other method that writes is owned by the
 * partition's writer (one thread at a time, see {@link PartitionWriter}); the read methods may be called by any
 * thread.
 */
public final class PartitionLog {
    private static final Logger log = LoggerFactory.getLogger(PartitionLog.class);

    final String topic;
    final int partition;
    final Path dir;
    private final LogSettings settings;
    private volatile Segment[] segments;
    private Segment active;
    private volatile long highWatermark;
    /** Segments below this base offset are sealed and forced; see {@link RecoveryPoint}. */
    private long recoveryPoint;
    private final java.util.concurrent.locks.ReentrantLock recoveryPointLock =
            new java.util.concurrent.locks.ReentrantLock();
    /** Told of each segment sealed without forcing (fsync interval or never), to force it in the background. */
    private java.util.function.Consumer<Segment> sealedUnforced = s -> { };

    private PartitionLog(String topic, int partition, Path dir, LogSettings settings, Segment[] segments) {
        this.topic = topic;
        this.partition = partition;
        this.dir = dir;
        this.settings = settings;
        this.segments = segments;
        this.active = segments[segments.length - 1];
        this.highWatermark = active.nextOffset();
    }

    /**
     * Opens (creating if needed) the partition in {@code dir} and recovers it as {@link SegmentRecovery} describes.
     */
    public static PartitionLog open(String topic, int partition, Path dir, LogSettings settings,
                                    java.util.function.Consumer<RecoveryEvent> events) throws IOException {
        Files.createDirectories(dir);
        SegmentRecovery.Events sink = (kind, file, position, offset, bytes, detail) -> {
            RecoveryEvent e = new RecoveryEvent(kind, topic, partition, file, position, offset, bytes, detail);
            if (kind == RecoveryEvent.Kind.SEGMENT_CORRUPT || kind == RecoveryEvent.Kind.OFFSET_GAP) {
                log.error("Log recovery: {}", e);
            } else {
                log.warn("Log recovery: {}", e);
            }
            events.accept(e);
        };
        List<Long> bases = segmentBases(dir);
        List<Segment> opened = new ArrayList<>();
        long stored = RecoveryPoint.read(dir);
        long recoveryPoint = stored >= 0 ? stored : bases.isEmpty() ? 0 : bases.get(0);
        if (bases.isEmpty()) {
            opened.add(Segment.create(dir, 0, System.currentTimeMillis()));
            Dirs.fsync(dir);
        } else {
            boolean cut = false;
            for (int i = 0; i < bases.size(); i++) {
                long base = bases.get(i);
                boolean last = i == bases.size() - 1;
                if (cut) {
                    Segment gone = Segment.open(dir, base, false);
                    long bytes = gone.size();
                    gone.delete();
                    sink.add(RecoveryEvent.Kind.TAIL_TRUNCATED, gone.logFile, 0, base, bytes,
                            "segment after a cut removed; the log now ends before offset " + base);
                    continue;
                }
                if (!last && bases.get(i + 1) <= recoveryPoint) {
                    Segment s = Segment.open(dir, base, false);
                    if (SegmentRecovery.checkSealed(s, bases.get(i + 1), settings.indexIntervalBytes(), sink)) {
                        opened.add(s);
                    } else {
                        s.close();
                    }
                    continue;
                }
                Segment s = Segment.open(dir, base, true);
                cut = SegmentRecovery.recoverUnflushed(s, settings.indexIntervalBytes(), sink);
                if (!last && !cut && s.nextOffset() != bases.get(i + 1)) {
                    sink.add(RecoveryEvent.Kind.TAIL_TRUNCATED, s.logFile, s.size(), s.nextOffset(), 0,
                            "segment ends before offset " + s.nextOffset() + " but the next one starts at "
                                    + bases.get(i + 1) + "; the log now ends at " + s.nextOffset());
                    cut = true;
                }
                if (last || cut) {
                    s.createdMillis = creationTime(s.logFile);
                    opened.add(s);
                } else {
                    s.seal(true); // rolled before a crash but not known forced: checked whole, forced now
                    opened.add(s);
                }
            }
            Dirs.fsync(dir);
        }
        long activeBase = opened.get(opened.size() - 1).baseOffset();
        if (stored != activeBase) {
            RecoveryPoint.write(dir, activeBase);
        }
        PartitionLog p = new PartitionLog(topic, partition, dir, settings, opened.toArray(new Segment[0]));
        p.recoveryPoint = activeBase;
        return p;
    }

    /** Base offsets of the segments in {@code dir}, ascending; removes leftovers of interrupted rebuilds. */
    public static List<Long> segmentBases(Path dir) throws IOException {
        List<Long> bases = new ArrayList<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir)) {
            for (Path f : files) {
                String name = f.getFileName().toString();
                if (name.endsWith(".tmp")) {
                    Files.deleteIfExists(f);
                } else if (name.endsWith(Segment.LOG_SUFFIX) && name.length() == 20 + Segment.LOG_SUFFIX.length()) {
                    try {
                        bases.add(Long.parseLong(name.substring(0, 20)));
                    } catch (NumberFormatException e) {
                        // not a segment of ours
                    }
                }
            }
        }
        bases.sort(null);
        return bases;
    }

    private static long creationTime(Path file) {
        try {
            return Files.readAttributes(file, BasicFileAttributes.class).creationTime().toMillis();
        } catch (IOException e) {
            return System.currentTimeMillis();
        }
    }

    // ---------------------------------------------------------------- read side (any thread)

    public String topic() {
        return topic;
    }

    public int partition() {
        return partition;
    }

    /** The segments, oldest first; the array is never modified. */
    public Segment[] segments() {
        return segments;
    }

    /** The offset after the last record readers may see. */
    public long highWatermark() {
        return highWatermark;
    }

    /** The oldest offset still held. */
    public long logStartOffset() {
        return segments[0].baseOffset();
    }

    /** The segment that holds (or would hold) {@code offset}: the last whose base offset is at or below it. */
    public Segment segmentFor(long offset) {
        Segment[] s = segments;
        int lo = 0;
        int hi = s.length - 1;
        while (lo < hi) {
            int mid = (lo + hi + 1) >>> 1;
            if (s[mid].baseOffset() <= offset) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        return s[lo];
    }

    /** The segment after {@code s}, or null if {@code s} is the last (or was deleted). */
    public Segment segmentAfter(Segment s) {
        Segment[] all = segments;
        for (int i = 0; i < all.length - 1; i++) {
            if (all[i] == s) {
                return all[i + 1];
            }
        }
        return null;
    }

    /** Bytes held by all segments. */
    public long sizeBytes() {
        long total = 0;
        for (Segment s : segments) {
            total += s.readLimit();
        }
        return total;
    }

    /**
     * The offset of the first record whose timestamp is at or after {@code timestampMillis}, found through the time
     * indexes; the high watermark if there is none.
     */
    public long offsetForTimestamp(long timestampMillis) throws IOException {
        BatchScanner scan = new BatchScanner();
        BatchDecoder decoder = new BatchDecoder();
        for (Segment s : segments) {
            if (s.maxTimestamp() < timestampMillis || s.isDeleted()) {
                continue;
            }
            int relative = s.timeIndex.startFor(timestampMillis);
            long start = relative == 0 ? 0 : PartitionCursor.indexedPosition(s, s.baseOffset() + relative);
            scan.reset(s, start, s.readLimit(), true);
            while (scan.next()) {
                if (scan.maxTimestamp() < timestampMillis) {
                    continue;
                }
                decoder.open(scan);
                while (decoder.hasNext()) {
                    long offset = decoder.nextOffset();
                    Message m = decoder.next();
                    if (m.timestampMillis() >= timestampMillis) {
                        return offset;
                    }
                }
            }
            if (scan.problem() != null && !scan.tornTail()) {
                throw new io.sluice.log.CorruptLogException(s.logFile, scan.position(), -1, scan.problem());
            }
        }
        return highWatermark;
    }

    // ---------------------------------------------------------------- writer side

    /** The offset the next appended record gets. */
    long nextOffset() {
        return active.nextOffset();
    }

    Segment active() {
        return active;
    }

    /**
     * Writes one finished batch, rolling first if the active segment is full, too old, or its relative offsets would
     * overflow. Readers do not see it until {@link #publish()}.
     */
    void append(ByteBuffer batch, long baseOffset, long nextOffset, long maxTimestamp, long nowMillis)
            throws IOException {
        Segment a = active;
        int length = batch.remaining();
        if (a.size() > 0 && (a.size() + length > settings.segmentBytes()
                || nowMillis - a.createdMillis >= settings.segmentMaxAge().toMillis()
                || nextOffset - a.baseOffset() > Integer.MAX_VALUE)) {
            roll(nowMillis);
            a = active;
        }
        a.append(batch, baseOffset, nextOffset, maxTimestamp, settings.indexIntervalBytes());
    }

    /** Forces the active segment's data to disk. */
    void force() throws IOException {
        active.force();
    }

    /** Lets readers see everything written so far (writer thread). */
    void publish() {
        Segment a = active;
        a.publish(a.size());
        highWatermark = a.nextOffset();
    }

    /**
     * Lets readers see {@code segment} up to {@code position}, ending before {@code nextOffset}: what an fsync
     * covered. Called by the partition's sync task, one at a time and in order, so both only grow.
     */
    void publish(Segment segment, long position, long nextOffset) {
        if (position > segment.readLimit()) {
            segment.publish(position);
        }
        if (nextOffset > highWatermark) {
            highWatermark = nextOffset;
        }
    }

    /**
     * Seals the active segment (forcing it, so a sealed segment is always complete on disk) and starts a new one at
     * the next offset. The new segment is listed before the old one is marked sealed, so a reader that sees the seal
     * also finds its successor.
     */
    private void roll(long nowMillis) throws IOException {
        Segment old = active;
        Segment next = Segment.create(dir, old.nextOffset(), nowMillis);
        Dirs.fsync(dir);
        Segment[] all = Arrays.copyOf(segments, segments.length + 1);
        all[all.length - 1] = next;
        segments = all;
        active = next;
        if (settings.fsync() == FsyncPolicy.ALWAYS) {
            old.seal(true); // its data is forced already, bar the last group; this costs little
            advanceRecoveryPoint(next.baseOffset());
        } else {
            old.seal(false);
            sealedUnforced.accept(old); // forced in the background, so a roll never stalls appends on the disk
        }
        log.debug("Rolled {}/{}: sealed {} ({} bytes), new segment at offset {}", topic, partition, old.logFile,
                old.size(), next.baseOffset());
    }

    /**
     * Rolls an active segment that has records and reached {@code segmentMaxAge}, then deletes whole sealed segments
     * beyond the retention limits, oldest first.
     *
     * @return how many segments were deleted
     */
    int maintain(long nowMillis) throws IOException {
        Segment a = active;
        if (a.size() > 0 && nowMillis - a.createdMillis >= settings.segmentMaxAge().toMillis()) {
            roll(nowMillis);
        }
        Segment[] all = segments;
        long total = 0;
        for (Segment s : all) {
            total += s.size();
        }
        long retentionBytes = settings.retentionBytes();
        long expiredBefore = settings.retentionTime() == null ? Long.MIN_VALUE
                : nowMillis - settings.retentionTime().toMillis();
        int drop = 0;
        for (int i = 0; i < all.length - 1; i++) {
            Segment s = all[i];
            boolean bySize = retentionBytes > 0 && total - s.size() >= retentionBytes;
            boolean byTime = s.maxTimestamp() < expiredBefore;
            if (!bySize && !byTime) {
                break;
            }
            total -= s.size();
            drop++;
        }
        if (drop == 0) {
            return 0;
        }
        segments = Arrays.copyOfRange(all, drop, all.length);
        for (int i = 0; i < drop; i++) {
            Segment s = all[i];
            log.info("Retention deleted segment {} of {}/{} (offsets {}..{}, {} bytes)", s.logFile, topic,
                    partition, s.baseOffset(), s.nextOffset() - 1, s.size());
            s.delete();
        }
        Dirs.fsync(dir);
        return drop;
    }

    /** Asks to be told of segments sealed without forcing; set once by the partition's writer. */
    void onSealedUnforced(java.util.function.Consumer<Segment> listener) {
        this.sealedUnforced = listener;
    }

    /** Forces a segment sealed without forcing and moves the recovery point past it (background flush task). */
    void flushSealed(Segment s) throws IOException {
        s.forceSealed();
        advanceRecoveryPoint(s.nextOffset());
    }

    /** Records durably that every segment below {@code offset} is sealed and forced. */
    private void advanceRecoveryPoint(long offset) throws IOException {
        recoveryPointLock.lock();
        try {
            if (offset > recoveryPoint) {
                RecoveryPoint.write(dir, offset);
                recoveryPoint = offset;
            }
        } finally {
            recoveryPointLock.unlock();
        }
    }

    /** Forces and closes every file, and records that everything before the active segment is on disk. */
    void close() throws IOException {
        for (Segment s : segments) {
            if (s != active && s.isSealed() && s.baseOffset() >= recoveryPoint && !s.isDeleted()) {
                s.forceSealed(); // sealed without forcing and not yet flushed in the background
            }
        }
        active.closeWriter();
        advanceRecoveryPoint(active.baseOffset());
        for (Segment s : segments) {
            s.close();
        }
    }

    /** Closes every file without forcing anything (after a failure). */
    void closeQuietly() {
        for (Segment s : segments) {
            s.close();
        }
    }

    @Override
    public String toString() {
        return "PartitionLog{" + topic + "/" + partition + ", segments=" + segments.length + ", hw=" + highWatermark
                + '}';
    }
}
