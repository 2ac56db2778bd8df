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
 * byte position and offset, now and on every later call, and nothing after it is returned. The log does not guess
 * where good data starts again; an operator restores the segment or moves the group past the damage explicitly.
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
                if (scan.nextOffset() <= nextOffset) {
                    continue; // a batch before the target, after positioning through the sparse index
                }
                if (scan.baseOffset() > nextOffset) {
                    throw stop(scan.position(), "batch starts at offset " + scan.baseOffset() + " but offset "
                            + nextOffset + " was expected");
                }
                decode(decoder);
                if (hasPending()) {
                    return true;
                }
                continue;
            }
            if (scan.problem() != null) {
                throw stop(scan.position(), scan.problem());
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
                throw stop(scan.end(), "segment ends before offset " + nextOffset + " but the next segment "
                        + next.logFile + " starts at " + next.baseOffset());
            }
            segment = next;
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
            throw stop(scan.position(), "records do not decode: " + e.getMessage());
        }
    }

    private CorruptLogException stop(long position, String why) {
        corrupt = new CorruptLogException(segment.logFile, position, nextOffset, why + "; reading of "
                + partition.topic + "/" + partition.partition + " stops before offset " + nextOffset
                + " (run 'sluice log verify " + partition.dir.getParent().getParent() + "')");
        return corrupt;
    }

    @Override
    public String toString() {
        return "PartitionCursor{" + partition.topic + "/" + partition.partition + " at " + nextOffset + '}';
    }
}
