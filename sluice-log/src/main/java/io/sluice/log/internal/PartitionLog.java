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
import java.util.Map;
import java.util.concurrent.ConcurrentSkipListSet;
import java.util.concurrent.atomic.AtomicLongFieldUpdater;
import java.util.concurrent.atomic.AtomicReferenceFieldUpdater;
import java.util.function.Consumer;
import java.util.function.Supplier;

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
    private static final AtomicLongFieldUpdater<PartitionLog> HIGH_WATERMARK =
            AtomicLongFieldUpdater.newUpdater(PartitionLog.class, "highWatermark");
    private static final AtomicReferenceFieldUpdater<PartitionLog, Throwable> STOPPED =
            AtomicReferenceFieldUpdater.newUpdater(PartitionLog.class, Throwable.class, "stopped");

    final String topic;
    final int partition;
    final Path dir;
    private final LogSettings settings;
    private final FileIo io;
    private final Counters counters;
    private final Consumer<RecoveryEvent> events;
    private volatile Segment[] segments;
    private Segment active;
    /** Only grows: the writer (after a write or a seal) and the sync task (after an fsync) both raise it. */
    private volatile long highWatermark;
    /** The first failed write or fsync; set once, see {@link #stop}. */
    private volatile Throwable stopped;
    /** Segments below this base offset are sealed and forced; see {@link RecoveryPoint}. */
    private long recoveryPoint;
    private final java.util.concurrent.locks.ReentrantLock recoveryPointLock =
            new java.util.concurrent.locks.ReentrantLock();
    /**
     * Base offsets of segments sealed without forcing (fsync interval or never) and not yet forced: the recovery point
     * never moves past the oldest of them, even when a later one was forced first or forcing this one failed.
     */
    private final ConcurrentSkipListSet<Long> unforced = new ConcurrentSkipListSet<>();
    /** Told of each segment sealed without forcing (fsync interval or never), to force it in the background. */
    private Consumer<Segment> sealedUnforced = s -> { };
    /** The committed offsets of the topic's groups on this partition (group name to offset), for retention. */
    private volatile Supplier<Map<String, Long>> groupPositions = Map::of;

    private PartitionLog(String topic, int partition, Path dir, LogSettings settings, Segment[] segments, FileIo io,
                         Counters counters, Consumer<RecoveryEvent> events) {
        this.topic = topic;
        this.partition = partition;
        this.dir = dir;
        this.settings = settings;
        this.io = io;
        this.counters = counters;
        this.events = events;
        this.segments = segments;
        this.active = segments[segments.length - 1];
        this.highWatermark = active.nextOffset();
    }

    /**
     * Opens (creating if needed) the partition in {@code dir} and recovers it as {@link SegmentRecovery} describes.
     *
     * <p>If neither copy of the recovery point can be read while the partition has sealed segments, every segment but
     * the last is checked batch by batch as a sealed one ({@link RecoveryEvent.Kind#RECOVERY_POINT_LOST}): damage in
     * it is reported and never cut. Cutting there could remove segments that were forced and acknowledged; the price
     * is that a segment that really had not been forced (fsync interval or never, OS crash) is reported as corrupt
     * instead of cut. Two copies, each replaced atomically one after the other, make this a matter of damage to the
     * disk, never of a crash.
     */
    public static PartitionLog open(String topic, int partition, Path dir, LogSettings settings, FileIo io,
                                    Counters counters, Consumer<RecoveryEvent> events) throws IOException {
        io.createDirectories(dir);
        SegmentRecovery.Events sink = (kind, file, position, offset, bytes, detail) -> {
            RecoveryEvent e = new RecoveryEvent(kind, topic, partition, file, position, offset, bytes, detail);
            if (kind == RecoveryEvent.Kind.SEGMENT_CORRUPT || kind == RecoveryEvent.Kind.OFFSET_GAP
                    || kind == RecoveryEvent.Kind.RECOVERY_POINT_LOST) {
                log.error("Log recovery: {}", e);
            } else {
                log.warn("Log recovery: {}", e);
            }
            events.accept(e);
        };
        removeLeftovers(dir, io);
        List<Long> bases = segmentBases(dir);
        List<Segment> opened = new ArrayList<>();
        RecoveryPoint.Stored stored = RecoveryPoint.readBoth(dir);
        boolean pointLost = stored.lost() && bases.size() > 1;
        if (pointLost) {
            sink.add(RecoveryEvent.Kind.RECOVERY_POINT_LOST, dir.resolve(RecoveryPoint.FILE_NAME), -1, -1, 0,
                    "neither " + RecoveryPoint.FILE_NAME + " nor " + RecoveryPoint.COPY_NAME + " can be read; every "
                            + "segment but the last is checked batch by batch as a sealed one (damage reported, not "
                            + "cut), the last is recovered as usual");
        } else if (stored.sound() == 1 && !bases.isEmpty()) {
            log.warn("Log recovery: one copy of the recovery point of {}/{} in {} is missing or damaged; using the "
                    + "other ({}) and rewriting both", topic, partition, dir, stored.offset());
        }
        long recoveryPoint = stored.offset() >= 0 ? stored.offset() : bases.isEmpty() ? 0 : bases.get(0);
        if (bases.isEmpty()) {
            opened.add(Segment.create(dir, 0, System.currentTimeMillis(), io));
            io.forceDirectory(dir);
        } else {
            boolean cut = false;
            for (int i = 0; i < bases.size(); i++) {
                long base = bases.get(i);
                boolean last = i == bases.size() - 1;
                if (cut) {
                    Segment gone = Segment.open(dir, base, false, io);
                    long bytes = gone.size();
                    gone.delete();
                    sink.add(RecoveryEvent.Kind.TAIL_TRUNCATED, gone.logFile, 0, base, bytes,
                            "segment after a cut removed; the log now ends before offset " + base);
                    continue;
                }
                if (!last && (pointLost || bases.get(i + 1) <= recoveryPoint)) {
                    Segment s = Segment.open(dir, base, false, io);
                    boolean kept = pointLost
                            ? SegmentRecovery.checkSealedWhole(s, bases.get(i + 1), settings.indexIntervalBytes(), sink)
                            : SegmentRecovery.checkSealed(s, bases.get(i + 1), settings.indexIntervalBytes(), sink);
                    if (kept) {
                        opened.add(s);
                    } else {
                        s.close();
                    }
                    continue;
                }
                Segment s = Segment.open(dir, base, true, io);
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
            io.forceDirectory(dir);
        }
        long activeBase = opened.get(opened.size() - 1).baseOffset();
        if (stored.offset() != activeBase || stored.sound() < 2) {
            RecoveryPoint.write(dir, activeBase, io);
        }
        PartitionLog p = new PartitionLog(topic, partition, dir, settings, opened.toArray(new Segment[0]), io,
                counters, events);
        p.recoveryPoint = activeBase;
        return p;
    }

    /** Removes leftovers of interrupted atomic replacements ({@code *.tmp}) from {@code dir}. */
    static void removeLeftovers(Path dir, FileIo io) throws IOException {
        List<Path> leftovers = new ArrayList<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "*.tmp")) {
            files.forEach(leftovers::add);
        }
        for (Path f : leftovers) {
            io.deleteIfExists(f);
        }
    }

    /** Base offsets of the segments in {@code dir}, ascending. Only reads the directory (the tools use it too). */
    public static List<Long> segmentBases(Path dir) throws IOException {
        List<Long> bases = new ArrayList<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir)) {
            for (Path f : files) {
                String name = f.getFileName().toString();
                if (name.endsWith(Segment.LOG_SUFFIX) && name.length() == 20 + Segment.LOG_SUFFIX.length()) {
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
     *
     * <p>Index entries are not checksummed, and a flipped bit can lower a timestamp without breaking the order of the
     * entries, which would start the search too late and silently pass over matching records. So the entry a search
     * starts from is checked against the log first (see {@link #timeSearchStart}); one that does not match makes the
     * search scan its segment from the start, which is slower but right.
     */
    public long offsetForTimestamp(long timestampMillis) throws IOException {
        BatchScanner scan = new BatchScanner();
        BatchDecoder decoder = new BatchDecoder();
        for (Segment s : segments) {
            if (s.isDeleted() || s.maxTimestampTrusted() && s.maxTimestamp() < timestampMillis) {
                continue;
            }
            long start = timeSearchStart(s, timestampMillis, scan);
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

    /**
     * Where a search for the first record at or after {@code timestampMillis} may start in {@code s}: the batch of the
     * last time-index entry (T, R) with T below it, once checked against the log. The writer's rule makes T exactly
     * {@code max(T of the entry before, largest timestamp of the batches from that entry's batch up to R)}, so the
     * batch headers between the two entries are read and compared; that also confirms a sealed segment's final entry
     * (its largest timestamp), after which {@code s} is trusted to hold nothing that late. Entries of batches past the
     * read limit (written, not yet published) are passed over. Any mismatch: position 0.
     */
    private long timeSearchStart(Segment s, long timestampMillis, BatchScanner scan) throws IOException {
        long limit = s.readLimit(); // before the index: later entries may point past it
        for (int slot = s.timeIndex.lastBelow(timestampMillis); slot >= 0; slot--) {
            long[] entry = s.timeIndex.entry(slot);
            long to = entry == null ? -1 : exactPosition(s, (int) entry[1], limit);
            if (to > limit) {
                continue; // not visible yet: an earlier entry will do
            }
            long[] previous = slot == 0 ? null : s.timeIndex.entry(slot - 1);
            long from = previous == null ? 0 : exactPosition(s, (int) previous[1], limit);
            if (to >= 0 && from >= 0 && to >= from) {
                long max = previous == null ? Long.MIN_VALUE : previous[0];
                scan.reset(s, from, to, false);
                while (scan.next()) {
                    max = Math.max(max, scan.maxTimestamp());
                }
                if (scan.problem() == null && scan.end() == to && max == entry[0]) {
                    if (s.isSealed() && entry[1] == s.nextOffset() - s.baseOffset()) {
                        s.trustMaxTimestamp();
                    }
                    return to;
                }
            }
            log.warn("Time index {} entry {} does not match the log; searching {} from its start",
                    s.timeIndex.file(), slot, s.logFile);
            return 0;
        }
        return 0;
    }

    /**
     * The byte position of the batch at relative offset {@code relative} of {@code s} through its offset index (the
     * end of the segment for its record count), if the index has exactly that entry and it points at that batch;
     * {@code Long.MAX_VALUE} if the entry points at or past {@code limit} (not visible yet); otherwise -1.
     */
    private static long exactPosition(Segment s, int relative, long limit) throws IOException {
        if (relative == 0) {
            return 0;
        }
        if (s.isSealed() && relative == s.nextOffset() - s.baseOffset()) {
            return s.readLimit();
        }
        long entry = s.index.lookup(s.baseOffset() + relative);
        if (OffsetIndex.relative(entry) != relative) {
            return -1;
        }
        if (OffsetIndex.position(entry) >= limit) {
            return Long.MAX_VALUE;
        }
        long position = PartitionCursor.indexedPosition(s, s.baseOffset() + relative);
        return position == OffsetIndex.position(entry) && position > 0 ? position : -1;
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
        raiseHighWatermark(a.nextOffset());
    }

    /**
     * Lets readers see {@code segment} up to {@code position}: what an fsync covered. Called by the partition's sync
     * task while the writer may be sealing the same segment, so the limit is raised, never set (see
     * {@link Segment#publish}).
     */
    void publish(Segment segment, long position) {
        segment.publish(position);
    }

    /** Lets readers see the records before {@code nextOffset}; never lowers what they may see. */
    void raiseHighWatermark(long nextOffset) {
        HIGH_WATERMARK.accumulateAndGet(this, nextOffset, Math::max);
    }

    /**
     * Seals the active segment and starts a new one at the next offset. The new segment is listed before the old one
     * is marked sealed, so a reader that sees the seal also finds its successor.
     *
     * <p>Under {@code always} the seal forces the segment, so every record in it is durable: the high watermark moves
     * to its end at once. Otherwise the sync task would raise it only after its next fsync, and in between readers
     * could read (and a group commit) past the high watermark, which a new owner of the partition would then start
     * from and commit backwards.
     */
    private void roll(long nowMillis) throws IOException {
        Segment old = active;
        Segment next = Segment.create(dir, old.nextOffset(), nowMillis, io);
        io.forceDirectory(dir);
        Segment[] all = Arrays.copyOf(segments, segments.length + 1);
        all[all.length - 1] = next;
        segments = all;
        active = next;
        if (settings.fsync() == FsyncPolicy.ALWAYS) {
            old.seal(true); // its data is forced already, bar the last group; this costs little
            raiseHighWatermark(old.nextOffset());
            advanceRecoveryPoint(next.baseOffset());
        } else {
            unforced.add(old.baseOffset());
            old.seal(false);
            sealedUnforced.accept(old); // forced in the background, so a roll never stalls appends on the disk
        }
        log.debug("Rolled {}/{}: sealed {} ({} bytes), new segment at offset {}", topic, partition, old.logFile,
                old.size(), next.baseOffset());
    }

    /**
     * Rolls an active segment that has records and reached {@code segmentMaxAge}, then deletes whole sealed segments
     * beyond the retention limits, oldest first. Time retention goes by a segment's newest record timestamp, as
     * Kafka's does (a damaged segment whose timestamps are unknown goes by its file's modification time).
     *
     * <p>Retention does not wait for groups. A deletion that takes offsets a group has not committed yet, while no
     * member of it reads the partition, is logged at WARN and recorded as a
     * {@link RecoveryEvent.Kind#RETENTION_UNCONSUMED} event per group; a member reading it reports the skip itself
     * ({@link #reportSkipped}).
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
            boolean byTime = expiredBefore != Long.MIN_VALUE && newestTimestamp(s) < expiredBefore;
            if (!bySize && !byTime) {
                break;
            }
            total -= s.size();
            drop++;
        }
        if (drop == 0) {
            return 0;
        }
        long oldStart = all[0].baseOffset();
        long newStart = all[drop].baseOffset();
        segments = Arrays.copyOfRange(all, drop, all.length);
        for (int i = 0; i < drop; i++) {
            Segment s = all[i];
            log.info("Retention deleted segment {} of {}/{} (offsets {}..{}, {} bytes)", s.logFile, topic,
                    partition, s.baseOffset(), s.nextOffset() - 1, s.size());
            s.delete();
        }
        io.forceDirectory(dir);
        warnUnconsumed(oldStart, newStart);
        return drop;
    }

    private static long newestTimestamp(Segment s) {
        long max = s.maxTimestamp();
        if (max != Long.MIN_VALUE) {
            return max;
        }
        try {
            return Files.getLastModifiedTime(s.logFile).toMillis();
        } catch (IOException e) {
            return Long.MAX_VALUE; // unknown: kept
        }
    }

    private void warnUnconsumed(long oldStart, long newStart) {
        Map<String, Long> positions;
        try {
            positions = groupPositions.get();
        } catch (RuntimeException e) {
            log.warn("Could not read the committed offsets of the groups of {}/{}", topic, partition, e);
            return;
        }
        for (Map.Entry<String, Long> e : positions.entrySet()) {
            long committed = e.getValue();
            if (committed >= 0 && committed < newStart) {
                long from = Math.max(committed, oldStart);
                report(new RecoveryEvent(RecoveryEvent.Kind.RETENTION_UNCONSUMED, topic, partition, dir, -1, from, 0,
                        "retention deleted offsets " + from + ".." + (newStart - 1) + " before group " + e.getKey()
                                + " consumed them (committed " + committed + "); it resumes at " + newStart));
            }
        }
    }

    /**
     * A reader (described by {@code reader}) that was at {@code from} finds the records before {@code to} deleted by
     * retention: WARN, a {@link RecoveryEvent.Kind#RETENTION_SKIPPED} event and the skipped-records counter. Any thread.
     */
    void reportSkipped(String reader, long from, long to) {
        counters.skippedByRetention.add(to - from);
        report(new RecoveryEvent(RecoveryEvent.Kind.RETENTION_SKIPPED, topic, partition, dir, -1, from, 0,
                reader + " was at offset " + from + " but retention deleted offsets " + from + ".." + (to - 1)
                        + " before it read them; it continues at " + to));
    }

    private void report(RecoveryEvent e) {
        log.warn("{}", e);
        events.accept(e);
    }

    /** Tells retention where the topic's groups stand on this partition; set once by the topic. */
    void groupPositions(Supplier<Map<String, Long>> positions) {
        this.groupPositions = positions;
    }

    /** Asks to be told of segments sealed without forcing; set once by the partition's writer. */
    void onSealedUnforced(Consumer<Segment> listener) {
        this.sealedUnforced = listener;
    }

    /**
     * Forces a segment sealed without forcing (background flush task) and moves the recovery point up to the oldest
     * segment still not forced: past this one only if every older one was forced too.
     */
    void flushSealed(Segment s) throws IOException {
        s.forceSealed();
        unforced.remove(s.baseOffset());
        long point = s.nextOffset();
        Long oldest = unforced.isEmpty() ? null : unforced.first();
        if (oldest != null && oldest < point) {
            point = oldest;
        }
        advanceRecoveryPoint(point);
    }

    /** The recovery point as last stored. */
    long recoveryPoint() {
        recoveryPointLock.lock();
        try {
            return recoveryPoint;
        } finally {
            recoveryPointLock.unlock();
        }
    }

    /**
     * Stops the partition after a failed write or fsync ({@code cause}): the first call logs it at ERROR and records a
     * {@link RecoveryEvent.Kind#PARTITION_STOPPED} event; the recovery point no longer moves. Any thread.
     */
    void stop(Throwable cause) {
        if (!STOPPED.compareAndSet(this, null, cause)) {
            return;
        }
        Segment[] all = segments;
        RecoveryEvent e = new RecoveryEvent(RecoveryEvent.Kind.PARTITION_STOPPED, topic, partition,
                all[all.length - 1].logFile, -1, -1, 0, "a write or fsync failed (" + cause + "); publishes not yet acknowledged failed, and the "
                + "partition takes no appends until the log is reopened, which recovers what reached the disk");
        log.error("{}", e, cause);
        events.accept(e);
    }

    /** The failure that stopped the partition, or null. */
    Throwable stopped() {
        return stopped;
    }

    /** Records durably that every segment below {@code offset} is sealed and forced. */
    private void advanceRecoveryPoint(long offset) throws IOException {
        recoveryPointLock.lock();
        try {
            // After a failure the state of the disk is unknown; the next open checks what it has to.
            if (offset > recoveryPoint && stopped == null) {
                RecoveryPoint.write(dir, offset, io);
                recoveryPoint = offset;
            }
        } finally {
            recoveryPointLock.unlock();
        }
    }

    /** Forces and closes every file, and records that everything before the active segment is on disk. */
    void close() throws IOException {
        for (Segment s : segments) {
            if (s != active && s.isSealed() && s.baseOffset() >= recoveryPoint() && !s.isDeleted()) {
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
