package io.sluice.log.internal;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.atomic.AtomicLongFieldUpdater;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One segment of a partition: the batches from {@link #baseOffset} on, in {@code <base>.log}, with its
 * {@link OffsetIndex} ({@code <base>.index}) and {@link TimeIndex} ({@code <base>.timeindex}). File names are the base
 * offset in 20 digits, so a directory listing sorts them in offset order.
 *
 * <p>Writing goes through a channel only the partition's writer thread uses; reading goes through a separate channel
 * shared by readers, so that an interrupted reader (which makes the JDK close the channel it was reading) cannot close
 * the writer's channel; a reader that finds the shared channel closed opens a fresh one.
 *
 * <p>Threads: fields without {@code volatile} and every method that writes are owned by the partition's writer thread;
 * {@link #read}, {@link #readLimit()}, {@link #isSealed()}, {@link #isDeleted()} and the getters of volatile fields may
 * be called by any thread.
 */
public final class Segment implements ByteSource {
    public static final String LOG_SUFFIX = ".log";
    public static final String INDEX_SUFFIX = ".index";
    public static final String TIME_INDEX_SUFFIX = ".timeindex";

    private static final AtomicLongFieldUpdater<Segment> READ_LIMIT =
            AtomicLongFieldUpdater.newUpdater(Segment.class, "readLimit");

    final long baseOffset;
    final Path logFile;
    final FileIo io;
    final OffsetIndex index;
    final TimeIndex timeIndex;
    private volatile FileChannel writeChannel;
    /** Set once everything written was forced before the write channel closed (seal, clean close). */
    private volatile boolean forcedForClose;
    /** Orders the fsyncs of this segment's files (writer, sync task, flush task); see {@link #forcing}. */
    private final ReentrantLock forceLock = new ReentrantLock();
    private volatile IOException forceFailure;
    private final AtomicReference<FileChannel> readChannel = new AtomicReference<>();

    /**
     * Bytes readers may read: everything written, or everything forced under fsync {@code always}. Only grows while
     * readers exist (the writer's seal and the sync task both raise it, concurrently), see {@link #publish}.
     */
    private volatile long readLimit;
    private volatile boolean sealed;
    private volatile boolean deleted;
    /** The offset after this segment's last record. */
    private volatile long nextOffset;
    /** The largest record timestamp in the segment, or {@link Long#MIN_VALUE} while empty. */
    private volatile long maxTimestamp = Long.MIN_VALUE;
    /**
     * False while {@link #maxTimestamp} comes from the time index of a sealed segment found on open (or from a
     * segment with damage) and was not yet confirmed against the log by a time search.
     */
    private volatile boolean maxTimestampTrusted = true;

    // Writer state.
    long size;
    long createdMillis;
    long bytesSinceIndexEntry;
    long lastTimeEntryTimestamp = Long.MIN_VALUE;

    private Segment(Path dir, long baseOffset, boolean writable, FileIo io) throws IOException {
        this.baseOffset = baseOffset;
        this.io = io;
        this.logFile = dir.resolve(fileName(baseOffset, LOG_SUFFIX));
        if (writable) {
            // The log file first: a crash between the creations leaves a segment whose indexes recovery rebuilds,
            // never index files without their log.
            this.writeChannel = io.open(logFile, StandardOpenOption.CREATE, StandardOpenOption.READ,
                    StandardOpenOption.WRITE);
            this.size = writeChannel.size();
        } else {
            this.size = Files.size(logFile);
        }
        OffsetIndex offsets = null;
        try {
            offsets = new OffsetIndex(dir.resolve(fileName(baseOffset, INDEX_SUFFIX)), baseOffset, writable, io);
            this.timeIndex = new TimeIndex(dir.resolve(fileName(baseOffset, TIME_INDEX_SUFFIX)), baseOffset,
                    writable, io);
        } catch (IOException | RuntimeException e) {
            if (offsets != null) {
                offsets.close();
            }
            if (writeChannel != null) {
                writeChannel.close();
            }
            throw e;
        }
        this.index = offsets;
        this.nextOffset = baseOffset;
    }

    /** The name of a segment file: the base offset in 20 digits and the suffix. */
    public static String fileName(long baseOffset, String suffix) {
        return String.format("%020d%s", baseOffset, suffix);
    }

    /** Creates the files of a new, empty, writable segment. */
    static Segment create(Path dir, long baseOffset, long nowMillis, FileIo io) throws IOException {
        Segment s = new Segment(dir, baseOffset, true, io);
        if (s.size != 0) {
            throw new IOException("new segment " + s.logFile + " already holds " + s.size + " bytes");
        }
        s.createdMillis = nowMillis;
        return s;
    }

    /** Opens an existing segment, writable if it is to be the active one. Recovery sets its state. */
    static Segment open(Path dir, long baseOffset, boolean writable, FileIo io) throws IOException {
        return new Segment(dir, baseOffset, writable, io);
    }

    // ---------------------------------------------------------------- read side (any thread)

    public long baseOffset() {
        return baseOffset;
    }

    public Path logFile() {
        return logFile;
    }

    public OffsetIndex offsetIndex() {
        return index;
    }

    public TimeIndex timeIndex() {
        return timeIndex;
    }

    public long readLimit() {
        return readLimit;
    }

    public boolean isSealed() {
        return sealed;
    }

    public boolean isDeleted() {
        return deleted;
    }

    public long nextOffset() {
        return nextOffset;
    }

    public long maxTimestamp() {
        return maxTimestamp;
    }

    /** True if {@link #maxTimestamp()} may be used to skip the segment in a time search. */
    boolean maxTimestampTrusted() {
        return maxTimestampTrusted;
    }

    /** A time search confirmed the final time-index entry against the log. */
    void trustMaxTimestamp() {
        maxTimestampTrusted = true;
    }

    /**
     * Positional read through the shared read channel.
     *
     * @throws SegmentDeletedException if retention deleted the segment
     * @throws InterruptedIOException  if the calling thread was interrupted (its interrupt status stays set)
     */
    @Override
    public int read(ByteBuffer dst, long position) throws IOException {
        while (true) {
            if (deleted) {
                throw new SegmentDeletedException(logFile);
            }
            FileChannel ch = readChannel();
            try {
                return ch.read(dst, position);
            } catch (ClosedByInterruptException e) {
                readChannel.compareAndSet(ch, null);
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("interrupted while reading " + logFile);
            } catch (ClosedChannelException e) {
                // closed by another reader's interrupt, or by deletion: open a fresh one, or report the deletion
                readChannel.compareAndSet(ch, null);
                if (Thread.currentThread().isInterrupted()) {
                    throw new InterruptedIOException("interrupted while reading " + logFile);
                }
            }
        }
    }

    private FileChannel readChannel() throws IOException {
        FileChannel ch = readChannel.get();
        if (ch != null && ch.isOpen()) {
            return ch;
        }
        if (Thread.currentThread().isInterrupted()) {
            throw new InterruptedIOException("interrupted before reading " + logFile);
        }
        FileChannel fresh;
        try {
            fresh = io.open(logFile, StandardOpenOption.READ);
        } catch (java.nio.file.NoSuchFileException e) {
            throw new SegmentDeletedException(logFile);
        }
        if (readChannel.compareAndSet(ch, fresh)) {
            return fresh;
        }
        fresh.close();
        return readChannel();
    }

    // ---------------------------------------------------------------- writer side

    /** Sets the state recovery found. */
    void recovered(long size, long nextOffset, long maxTimestamp, long bytesSinceIndexEntry,
                   long lastTimeEntryTimestamp) {
        this.size = size;
        this.nextOffset = nextOffset;
        this.maxTimestamp = maxTimestamp;
        this.bytesSinceIndexEntry = bytesSinceIndexEntry;
        this.lastTimeEntryTimestamp = lastTimeEntryTimestamp;
        this.readLimit = size;
    }

    /**
     * Marks a segment recovery found sealed (not the last one).
     *
     * @param trusted false if {@code maxTimestamp} was read from the time index or is only a partial maximum
     */
    void recoveredSealed(long nextOffset, long maxTimestamp, boolean trusted) {
        this.nextOffset = nextOffset;
        this.maxTimestamp = maxTimestamp;
        this.maxTimestampTrusted = trusted;
        this.readLimit = size;
        this.sealed = true;
    }

    /**
     * Writes a whole batch at the end of the log file, then the index entries for it if enough bytes passed since the
     * last ones. Data first: a crash between the two leaves a batch without its entry, which recovery adds, rather
     * than an entry pointing past the end. Readers do not see the batch until {@link #publish}.
     */
    void append(ByteBuffer batch, long batchBaseOffset, long batchNextOffset, long batchMaxTimestamp,
                int indexIntervalBytes) throws IOException {
        int length = batch.remaining();
        long start = size;
        boolean indexDue = start > 0 && bytesSinceIndexEntry >= indexIntervalBytes;
        long maxBefore = maxTimestamp;
        long at = start;
        while (batch.hasRemaining()) {
            at += writeChannel.write(batch, at);
        }
        size = at;
        nextOffset = batchNextOffset;
        if (batchMaxTimestamp > maxTimestamp) {
            maxTimestamp = batchMaxTimestamp;
        }
        if (indexDue) {
            int relative = (int) (batchBaseOffset - baseOffset);
            if (maxBefore > lastTimeEntryTimestamp) {
                timeIndex.append(maxBefore, relative);
                lastTimeEntryTimestamp = maxBefore;
            }
            index.append(relative, (int) start);
            bytesSinceIndexEntry = 0;
        }
        bytesSinceIndexEntry += length;
    }

    /** Cuts the log file back to {@code newSize} after a failed write. */
    void truncateLog(long newSize, long newNextOffset) throws IOException {
        writeChannel.truncate(newSize);
        size = newSize;
        nextOffset = newNextOffset;
    }

    /** Cuts a torn or corrupt tail found by recovery, durably, before anything is appended after it. */
    void truncateLogForRecovery(long newSize) throws IOException {
        writeChannel.truncate(newSize);
        writeChannel.force(true);
        size = newSize;
    }

    /**
     * Lets readers see the first {@code limit} bytes, unless they may see more already. The writer (after a write, or
     * when it seals) and the sync task (after an fsync) both call this, concurrently: a plain "if larger, set" could
     * let a slower sync move a sealed segment's limit back below its end, stranding readers before its last batches.
     */
    void publish(long limit) {
        READ_LIMIT.accumulateAndGet(this, limit, Math::max);
    }

    /** fdatasync of the log file: the data and the file length, not other metadata. Writer thread. */
    void force() throws IOException {
        FileChannel ch = writeChannel;
        forcing(() -> ch.force(false));
    }

    /**
     * fdatasync from the partition's sync task, concurrent with the writer appending. If the writer sealed (or a
     * clean close closed) the segment meanwhile, the seal forced everything first, so a closed channel is fine.
     */
    void forceWritten() throws IOException {
        FileChannel ch = writeChannel;
        if (ch == null) {
            if (forcedForClose) {
                return;
            }
            throw new IOException("segment " + logFile + " was closed before it was forced");
        }
        forcing(() -> {
            try {
                ch.force(false);
            } catch (java.nio.channels.ClosedChannelException e) {
                if (!forcedForClose) {
                    throw e;
                }
            }
        });
    }

    /**
     * Makes the segment read-only: adds the final time-index entry (the segment's max timestamp at its record count)
     * and closes the write channels, forcing the files first if {@code force} (otherwise {@link #forceSealed} does it
     * later). Readers see every byte and then move to the next segment.
     */
    void seal(boolean force) throws IOException {
        int count = (int) (nextOffset - baseOffset);
        if (count > 0) {
            timeIndex.append(Math.max(maxTimestamp, lastTimeEntryTimestamp), count);
        }
        FileChannel ch = writeChannel;
        if (force) {
            forcing(() -> {
                ch.force(true);
                index.force();
                timeIndex.force();
            });
            forcedForClose = true;
        }
        writeChannel = null;
        ch.close();
        index.seal(false);
        timeIndex.seal(false);
        publish(size);
        sealed = true;
    }

    /**
     * Forces the files of a segment sealed without forcing, through channels of its own (an fsync of any descriptor
     * flushes the file). A segment deleted by retention meanwhile needs nothing.
     */
    void forceSealed() throws IOException {
        forcing(() -> {
            for (Path f : new Path[] {logFile, index.file(), timeIndex.file()}) {
                try (FileChannel ch = io.open(f, StandardOpenOption.READ)) {
                    ch.force(true);
                } catch (java.nio.file.NoSuchFileException e) {
                    if (!deleted) {
                        throw e;
                    }
                }
            }
        });
    }

    /** Forces and closes the write channels of the active segment on a clean close; it stays the active one. */
    void closeWriter() throws IOException {
        FileChannel ch = writeChannel;
        forcing(() -> {
            if (ch != null) {
                ch.force(true);
            }
            index.force();
            timeIndex.force();
        });
        if (ch != null) {
            forcedForClose = true;
            writeChannel = null;
            ch.close();
        }
        index.seal(false);
        timeIndex.seal(false);
    }

    /** The first failed fsync of this segment's files, or null. */
    IOException forceFailure() {
        return forceFailure;
    }

    /**
     * Runs an fsync of this segment's files, one at a time, and makes a failure stick: every later fsync of the
     * segment fails too. Linux reports a writeback error to each descriptor once (and not at all to one opened after
     * it), then drops the dirty pages, so a later fsync - the writer's seal after the sync task's failed force, or
     * the flush task's through a fresh descriptor - would return success for data that never reached the disk. The
     * lock only orders forces of one file, which the kernel serializes anyway; no one waits on it but another force.
     */
    private void forcing(IoAction action) throws IOException {
        forceLock.lock();
        try {
            IOException earlier = forceFailure;
            if (earlier != null) {
                throw new IOException("an earlier fsync of " + logFile + " failed (" + earlier.getMessage()
                        + "); what it covered may never have reached the disk", earlier);
            }
            try {
                action.run();
            } catch (IOException e) {
                forceFailure = e;
                throw e;
            }
        } finally {
            forceLock.unlock();
        }
    }

    @FunctionalInterface
    private interface IoAction {
        void run() throws IOException;
    }

    /** Closes every channel (the files stay). */
    public void close() {
        try {
            if (writeChannel != null) {
                writeChannel.close();
                writeChannel = null;
            }
            index.close();
            timeIndex.close();
        } catch (IOException e) {
            // closing read-only or already forced channels; nothing is lost
        }
        FileChannel ch = readChannel.getAndSet(null);
        if (ch != null) {
            try {
                ch.close();
            } catch (IOException e) {
                // nothing to flush on a read channel
            }
        }
    }

    /** Retention: readers that still point here move on to the log start; the files are removed. */
    void delete() throws IOException {
        deleted = true;
        close();
        io.deleteIfExists(logFile);
        io.deleteIfExists(index.file());
        io.deleteIfExists(timeIndex.file());
    }

    long size() {
        return size;
    }

    @Override
    public String toString() {
        return "Segment{" + logFile + ", base=" + baseOffset + ", next=" + nextOffset + ", size=" + size
                + (sealed ? ", sealed" : "") + '}';
    }
}
