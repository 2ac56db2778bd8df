package io.sluice.log.internal;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Walks the batches of a segment file from a start position up to a limit, through a read-ahead window, checking
 * every header and (unless told not to) every body checksum. Stops at the first batch that is torn (runs past the
 * limit) or fails a check, and says why. Used by readers, recovery and the tools. After damage,
 * {@link #resync} finds the next sound batch, so that readers and tools can go on after a damaged region.
 *
 * <p>Not thread-safe: one per reading thread; reusable with {@link #reset}.
 */
public final class BatchScanner {
    private static final int DEFAULT_WINDOW = 256 * 1024;

    private ByteSource source;
    private long limit;
    private boolean checkBodies;
    private ByteBuffer window = ByteBuffer.allocate(DEFAULT_WINDOW);
    /** File position of window index 0. */
    private long windowStart;
    /** Valid bytes in the window. */
    private int windowLength;

    private long position;
    private int at;
    private int length;
    private String problem;
    private boolean torn;
    /** Length of the batch that failed a check, if its header was sound (so the length can be trusted); else 0. */
    private int damagedLength;

    /** Starts a walk at {@code start} that never reads at or beyond {@code limit}. */
    public BatchScanner reset(ByteSource source, long start, long limit, boolean checkBodies) {
        this.source = source;
        this.limit = limit;
        this.checkBodies = checkBodies;
        this.windowStart = start;
        this.windowLength = 0;
        this.position = start;
        this.length = 0;
        this.problem = null;
        this.torn = false;
        this.damagedLength = 0;
        return this;
    }

    /** Moves the limit (a reader following the active segment as it grows). */
    public void extendLimit(long newLimit) {
        this.limit = newLimit;
    }

    /**
     * Advances to the next batch.
     *
     * @return true if a sound batch is loaded; false at the limit (see {@link #problem()} for why it stopped short)
     */
    public boolean next() throws IOException {
        if (problem != null) {
            return false;
        }
        position += length;
        length = 0;
        long remaining = limit - position;
        if (remaining <= 0) {
            return false;
        }
        if (remaining < BatchFormat.HEADER_SIZE) {
            return fail("only " + remaining + " bytes left, too few for a batch header", true);
        }
        if (!load(BatchFormat.HEADER_SIZE)) {
            return fail("file ends inside a batch header", true);
        }
        String bad = BatchFormat.checkHeader(window, at);
        if (bad != null) {
            return fail(bad, false);
        }
        int len = BatchFormat.length(window, at);
        if (len > remaining) {
            return fail("batch of " + len + " bytes runs past the end (" + remaining + " bytes left)", true);
        }
        if (checkBodies) {
            if (!load(len)) {
                return fail("file ends inside a batch of " + len + " bytes", true);
            }
            bad = BatchFormat.checkBody(window, at);
            if (bad != null) {
                fail(bad, false);
                damagedLength = len;
                return false;
            }
        }
        length = len;
        return true;
    }

    /** Makes the whole current batch available in {@link #buffer()} (when walking without body checks). */
    public void loadBody() throws IOException {
        if (!load(length)) {
            throw new IOException("segment ended inside a batch that was there a moment ago");
        }
    }

    private boolean fail(String why, boolean tornTail) {
        this.problem = why;
        this.torn = tornTail;
        this.length = 0;
        this.damagedLength = 0;
        return false;
    }

    /**
     * The first offset of the batch the walk stopped at, if its header is sound (only its body failed a check), so
     * that its offsets and length can be trusted; -1 otherwise.
     */
    public long damagedBaseOffset() throws IOException {
        if (problem == null || damagedLength == 0 || !load(BatchFormat.HEADER_SIZE)) {
            return -1;
        }
        return BatchFormat.baseOffset(window, at);
    }

    /**
     * After the walk stopped at damage (or at a batch the caller found unusable), looks for the first sound batch
     * after it: a position from {@code from} on where a whole batch with the format's magic, a matching header CRC
     * and a matching body CRC starts whose base offset lies in {@code [minBase, maxBase)}. It tries every byte
     * position, since a damaged header's length cannot be trusted; the offset range keeps a batch image inside a
     * record's value (which would have to be a whole valid batch) from being taken unless its offsets fit too. Costs a
     * pass over the damaged bytes; only ever runs after damage.
     *
     * @return true if one was found: the walk then stands before it, so that {@link #next()} returns it; false if
     *         none is there before the limit (the walk stays stopped where it was)
     */
    public boolean resync(long from, long minBase, long maxBase) throws IOException {
        long stoppedAt = position;
        String stoppedWhy = problem;
        boolean stoppedTorn = torn;
        int stoppedLength = damagedLength;
        for (long p = from; limit - p >= BatchFormat.HEADER_SIZE; p++) {
            position = p;
            length = 0;
            if (!load(BatchFormat.HEADER_SIZE)) {
                break;
            }
            if (window.getInt(at) != BatchFormat.MAGIC || BatchFormat.checkHeader(window, at) != null) {
                continue;
            }
            long base = BatchFormat.baseOffset(window, at);
            int len = BatchFormat.length(window, at);
            if (base < minBase || base >= maxBase || len > limit - p || !load(len)
                    || BatchFormat.checkBody(window, at) != null) {
                continue;
            }
            problem = null;
            torn = false;
            damagedLength = 0;
            return true;
        }
        position = stoppedAt;
        length = 0;
        problem = stoppedWhy;
        torn = stoppedTorn;
        damagedLength = stoppedLength;
        return false;
    }

    /** Ensures window holds {@code n} bytes from {@link #position}; sets {@link #at}. */
    private boolean load(int n) throws IOException {
        long offsetInWindow = position - windowStart;
        if (offsetInWindow >= 0 && offsetInWindow + n <= windowLength) {
            at = (int) offsetInWindow;
            return true;
        }
        if (window.capacity() < n) {
            window = ByteBuffer.allocate(Math.max(n, window.capacity() * 2));
        }
        windowStart = position;
        windowLength = 0;
        int want = (int) Math.min(window.capacity(), limit - position);
        window.clear().limit(Math.max(want, n));
        while (windowLength < n) {
            int r = source.read(window, windowStart + windowLength);
            if (r < 0) {
                break;
            }
            windowLength += r;
            if (windowLength >= want) {
                break;
            }
        }
        window.clear();
        at = 0;
        return windowLength >= n;
    }

    /** File position of the current batch, or where the walk stopped. */
    public long position() {
        return position;
    }

    /**
     * Where the batch the walk stopped at ends, if its header was sound; otherwise the byte after its start (where a
     * search for the next sound batch begins).
     */
    public long damagedEnd() {
        return position + Math.max(damagedLength, 1);
    }

    /** Where the next batch starts (the end of the current one). */
    public long end() {
        return position + length;
    }

    /** Why the walk stopped before the limit, or null. */
    public String problem() {
        return problem;
    }

    /**
     * True if the walk stopped at bytes that look cut short (too few left for the header or the length it states);
     * false if it stopped at a batch that is all there but fails a check.
     */
    public boolean tornTail() {
        return torn;
    }

    /** The window holding the current batch at {@link #at()}. */
    public ByteBuffer buffer() {
        return window;
    }

    public int at() {
        return at;
    }

    public int length() {
        return length;
    }

    public long baseOffset() {
        return BatchFormat.baseOffset(window, at);
    }

    public int count() {
        return BatchFormat.count(window, at);
    }

    public long nextOffset() {
        return baseOffset() + count();
    }

    public long firstTimestamp() {
        return BatchFormat.firstTimestamp(window, at);
    }

    public long maxTimestamp() {
        return BatchFormat.maxTimestamp(window, at);
    }

    public int codec() {
        return BatchFormat.codec(window, at);
    }

    public int rawBodyLength() {
        return BatchFormat.rawBodyLength(window, at);
    }
}
