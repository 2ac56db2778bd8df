package io.sluice.log.internal;

import io.sluice.Message;
import io.sluice.log.CorruptLogException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;

/**
 * A reader's position in one partition: the segment and byte position it reads from, the next offset to hand out,
 * and the records of the current batch not yet handed out. Reads take no lock: the reader never goes past
 * {@link Segment#readLimit()}, and it checks every batch (both CRCs, dense offsets) before decoding it.
 *
 * <p>A batch that fails a check stops the cursor: {@link #fill} throws {@link CorruptLogException} naming the file,
 * byte position and first offset of the damaged batch and where sound batches resume after it (found by
 * {@link BatchScanner#resync}), now and on every later call, and nothing after it is returned. Going on is an
 * operator's decision: restore the segment, or move the group to the resume offset. A cursor that starts after the
 * damage (its target lies at or past the resume offset) passes it, since no record it was asked for is lost: the
 * segment walk from the sparse index entry below the target would otherwise end at damage below the target.
 *
 * <p>A group's reader whose records were deleted by retention before it read them (its position is below the log
 * start, or its segment is deleted under it) moves to the log start and reports the skipped offsets: WARN, a
 * {@link io.sluice.log.RecoveryEvent.Kind#RETENTION_SKIPPED} event, and {@link io.sluice.log.LogStats}. A direct read
 * ({@code LogTransport.read}) starts at the log start silently, as documented.
 *
 * <p>Not thread-safe: owned by one reading thread.
 */
public final class PartitionCursor {
    private static final Logger log = LoggerFactory.getLogger(PartitionCursor.class);

    private final PartitionLog partition;
    /** Who reads, for reports ("group billing"); null for a direct read, which reports no skips. */
    private final String reader;
    private final BatchScanner scan = new BatchScanner();
    private Segment segment;
    private long nextOffset;
    private Message[] pending = new Message[64];
    private int pendingIndex;
    private int pendingCount;
    private CorruptLogException corrupt;
    /** The offset after the last sound batch the walk of the current segment passed; -1 if not yet known. */
    private long walked;

    /** A direct reader at {@code offset} (from the log start if that is older). */
    public PartitionCursor(PartitionLog partition, long offset) throws IOException {
        this(partition, offset, null);
    }

    /** A reader at {@code offset} that reports records retention deleted before it read them. */
    PartitionCursor(PartitionLog partition, long offset, String reader) throws IOException {
        this.partition = partition;
        this.reader = reader;
        seek(offset);
    }

    public PartitionLog partition() {
        return partition;
    }

    /** Positions the cursor before {@code offset}, clamped to the records the partition holds. */
    public void seek(long offset) throws IOException {
        long start = partition.logStartOffset();
        long target = offset;
        if (target < start) {
            if (reader != null) {
                partition.reportSkipped(reader, offset, start);
            }
            target = start;
        }
        pendingIndex = 0;
        pendingCount = 0;
        corrupt = null;
        nextOffset = target;
        Segment s = partition.segmentFor(target);
        long position = target == s.baseOffset() ? 0 : indexedPosition(s, target);
        segment = s;
        walked = position == 0 ? s.baseOffset() : -1;
        scan.reset(s, position, s.readLimit(), true);
    }

    /**
     * Where to start scanning for {@code offset} in {@code s}: the indexed batch at or before it (and before the
     * segment's read limit), if that entry really points at such a batch; otherwise (a damaged index) the start of the
     * segment, which is slower but right.
     */
    static long indexedPosition(Segment s, long offset) throws IOException {
        // The limit first: entries added after it was read point at batches readers may not see yet.
        long limit = s.readLimit();
        long entry = s.index.lookup(offset, limit);
        int position = OffsetIndex.position(entry);
        if (position <= 0) {
            if (position < 0) {
                // Damage after the index was checked on open; a negative position would fail the read itself.
                log.warn("Index {} entry for offset {} holds position {}; scanning {} from its start",
                        s.index.file(), s.baseOffset() + OffsetIndex.relative(entry), position, s.logFile);
            }
            return 0;
        }
        java.nio.ByteBuffer header = java.nio.ByteBuffer.allocate(BatchFormat.HEADER_SIZE);
        while (header.hasRemaining()) {
            if (s.read(header, position + header.position()) < 0) {
                break;
            }
        }
        if (header.hasRemaining() || BatchFormat.checkHeader(header, 0) != null
                || BatchFormat.baseOffset(header, 0) != s.baseOffset() + OffsetIndex.relative(entry)) {
            log.warn("Index {} entry for offset {} does not point at its batch; scanning {} from its start",
                    s.index.file(), s.baseOffset() + OffsetIndex.relative(entry), s.logFile);
            return 0;
        }
        return position;
    }

    /** The offset of the next record {@link #next()} returns. */
    public long nextOffset() {
        return nextOffset;
    }

    /** True if decoded records wait to be taken. */
    public boolean hasPending() {
        return pendingIndex < pendingCount;
    }

    /** The next decoded record; only when {@link #hasPending()}. */
    public Message peek() {
        return pending[pendingIndex];
    }

    /** Takes the record {@link #peek()} showed. */
    public Message next() {
        Message m = pending[pendingIndex];
        pending[pendingIndex++] = null;
        nextOffset++;
        return m;
    }

    /** True if the partition holds records past what this cursor has handed out. */
    public boolean behind() {
        return corrupt == null && (hasPending() || nextOffset < partition.highWatermark());
    }

    /** The corruption that stopped this cursor, or null. */
    public CorruptLogException corruption() {
        return corrupt;
    }

    /**
     * Decodes the next batch into the pending records if none are pending.
     *
     * @return true if records are pending; false if the cursor has caught up with what readers may see
     * @throws CorruptLogException if the next batch is corrupt (again on every call)
     */
    public boolean fill(BatchDecoder decoder) throws IOException {
        if (corrupt != null) {
            throw corrupt;
        }
        if (hasPending()) {
            return true;
        }
        while (true) {
            if (segment.isDeleted()) {
                seek(nextOffset); // retention took the segment under us: on to the log start, reporting the skip
                continue;
            }
            scan.extendLimit(segment.readLimit());
            boolean found;
            try {
                found = scan.next();
            } catch (SegmentDeletedException e) {
                continue;
            }
            if (found) {
                walked = scan.nextOffset();
                if (scan.nextOffset() <= nextOffset) {
                    continue; // a batch before the target, after positioning through the sparse index
                }
                if (scan.baseOffset() > nextOffset) {
                    throw stop(scan.position(), nextOffset, -1, -1, "batch starts at offset " + scan.baseOffset()
                            + " but offset " + nextOffset + " was expected");
                }
                decode(decoder);
                if (hasPending()) {
                    return true;
                }
                continue;
            }
            if (scan.problem() != null) {
                long first = scan.damagedBaseOffset();
                if (first < 0) {
                    // The header is damaged: the batch starts where the last sound one ended. Unknown only if the
                    // batch the index entry pointed at changed since it was checked; then name the target.
                    first = walked >= 0 ? walked : nextOffset;
                }
                CorruptLogException e;
                try {
                    e = damage(scan.position(), first, scan.damagedEnd(), scan.problem());
                } catch (SegmentDeletedException deleted) {
                    continue;
                }
                if (e != null) {
                    throw e;
                }
                continue; // the damage lies wholly below the target: the walk goes on with the next sound batch
            }
            // Clean end of what may be read. The writer sets the final read limit before marking a segment sealed,
            // so after seeing the seal, the limit read next is final.
            boolean sealed = segment.isSealed();
            long limit = segment.readLimit();
            if (limit > scan.end()) {
                continue;
            }
            if (!sealed) {
                return false;
            }
            Segment next = partition.segmentAfter(segment);
            if (next == null) {
                if (segment.isDeleted()) {
                    continue;
                }
                return false;
            }
            if (next.baseOffset() != nextOffset) {
                throw stop(scan.end(), nextOffset, -1, -1, "segment ends before offset " + nextOffset
                        + " but the next segment " + next.logFile + " starts at " + next.baseOffset());
            }
            segment = next;
            walked = next.baseOffset();
            scan.reset(next, 0, next.readLimit(), true);
        }
    }

    private void decode(BatchDecoder decoder) {
        try {
            decoder.open(scan);
            int count = scan.count();
            if (pending.length < count) {
                pending = new Message[Math.max(count, pending.length * 2)];
            }
            pendingIndex = 0;
            pendingCount = 0;
            while (decoder.hasNext()) {
                if (decoder.nextOffset() < nextOffset) {
                    decoder.skip();
                } else {
                    pending[pendingCount++] = decoder.next();
                }
            }
        } catch (MalformedBatchException e) {
            pendingCount = 0;
            long at = scan.position();
            long first = scan.baseOffset();
            String why = "records do not decode: " + e.getMessage();
            CorruptLogException stop = null;
            try {
                // Both CRCs held, so the batch's length is right: sound batches may resume right after it. The
                // batch holds the target, so this always stops the cursor.
                stop = damage(at, first, scan.end(), why);
            } catch (IOException io) {
                // where reading could resume stays unknown; the damage itself is reported below
            }
            throw stop != null ? stop : stop(at, first, -1, -1, why);
        }
    }

    /**
     * The walk met a damaged batch at byte {@code at} holding offsets from {@code first} on. Finds where sound batches
     * resume (in this segment from {@code searchFrom}, else at the start of the next segment once this one is
     * sealed). If they resume at or before the target, the damage holds nothing the reader wants: returns null with
     * the walk standing before the sound batch. Otherwise stops the cursor and returns the exception to throw.
     */
    private CorruptLogException damage(long at, long first, long searchFrom, String why) throws IOException {
        boolean sealed = segment.isSealed();
        // Sealed or not, no sound batch starts at or past the writer's next offset: bytes that look like one there
        // (a batch inside a record's payload) must not be taken for where reading resumes. Read after the scan's
        // limit, so it covers every batch below that limit.
        long maxBase = segment.nextOffset();
        if (scan.resync(searchFrom, first + 1, maxBase)) {
            long resume = scan.baseOffset();
            if (resume <= nextOffset) {
                return null;
            }
            return stop(at, first, resume, scan.position(), why);
        }
        Segment next = sealed ? partition.segmentAfter(segment) : null;
        return stop(at, first, next == null ? -1 : next.baseOffset(), -1, why);
    }

    private CorruptLogException stop(long position, long first, long resumeOffset, long resumePosition, String why) {
        String resume;
        if (resumeOffset < 0) {
            resume = "no sound batch follows it yet";
        } else if (resumePosition >= 0) {
            resume = "readable batches resume at offset " + resumeOffset + " (byte " + resumePosition + " of "
                    + segment.logFile.getFileName() + ")";
        } else {
            resume = "readable batches resume at offset " + resumeOffset + " (the start of the next segment)";
        }
        corrupt = new CorruptLogException(segment.logFile, position, first, resumeOffset, resumePosition, why + "; "
                + resume + "; reading of " + partition.topic + "/" + partition.partition + " stops before offset "
                + nextOffset + (resumeOffset < 0 ? "" : "; to skip exactly the damage, move the group to offset "
                + resumeOffset + " (LogTransport.seekGroup)") + " (run 'sluice log verify "
                + partition.dir.getParent().getParent() + "')");
        return corrupt;
    }

    @Override
    public String toString() {
        return "PartitionCursor{" + partition.topic + "/" + partition.partition + " at " + nextOffset + '}';
    }
}
