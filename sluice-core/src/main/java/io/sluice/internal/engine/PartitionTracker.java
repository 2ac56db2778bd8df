package io.sluice.internal.engine;

/**
 * The commit watermark of one partition: which fetched offsets are finished, and the offset after the longest
 * finished run from the oldest unfinished one. Fetched records get dense sequence numbers, so gaps in the
 * partition's offsets (compaction, transaction markers) cost nothing; a ring of completion bits indexed by
 * {@code seq & mask} finds the watermark without scanning or sorting: each bit is set once and passed once.
 *
 * <p>The ring grows by doubling up to the span the engine allows ({@code consumer.maxUncommittedPerPartition} plus
 * one fetch), so memory stays bounded when one message is stuck while later ones finish.
 *
 * <p>Not thread-safe: owned by the engine's owner thread.
 */
final class PartitionTracker {
    final int partition;
    private long[] offsets;
    private long[] done;
    private int mask;
    private long headSeq;
    private long tailSeq;
    private long watermark = -1;
    /** The highest watermark the transport confirmed durable. */
    private long committed = -1;
    /** The highest watermark sent in a background commit whose outcome is pending or was a success. */
    private long sent = -1;
    /** Deliveries of this partition fetched and not finished. */
    int inFlight;
    boolean revoking;
    /** Fetching from this partition is paused because its window ({@link #span()}) is full. */
    boolean paused;
    /** The head sequence number the stall check last saw, and since when; -1 when the partition had no work. */
    long stallHeadSeq = -1;
    long stallSinceNanos;
    /** A stall of the current head was reported. */
    boolean stalled;

    PartitionTracker(int partition, int initialCapacity) {
        this.partition = partition;
        int capacity = Integer.highestOneBit(Math.max(64, initialCapacity - 1) << 1);
        this.offsets = new long[capacity];
        this.done = new long[capacity >>> 6];
        this.mask = capacity - 1;
    }

    /** Records a fetched offset and returns its sequence number. */
    long track(long offset) {
        if (tailSeq - headSeq == offsets.length) {
            grow();
        }
        long seq = tailSeq++;
        offsets[(int) (seq & mask)] = offset;
        inFlight++;
        return seq;
    }

    /** Marks {@code seq} finished and advances the watermark over the finished run it may close. */
    void complete(long seq) {
        int i = (int) (seq & mask);
        done[i >>> 6] |= 1L << i;
        inFlight--;
        long h = headSeq;
        final long t = tailSeq;
        while (h < t) {
            int j = (int) (h & mask);
            long bit = 1L << j;
            if ((done[j >>> 6] & bit) == 0) {
                break;
            }
            done[j >>> 6] &= ~bit;
            watermark = offsets[j] + 1;
            h++;
        }
        headSeq = h;
    }

    /** Forgets {@code seq} without finishing it: it stays below the watermark's reach until redelivered. */
    void abandon() {
        inFlight--;
    }

    /** The sequence number of the oldest unfinished delivery (meaningful while {@link #span()} is positive). */
    long headSeq() {
        return headSeq;
    }

    /** The offset of the oldest unfinished delivery, where the watermark is stuck (while {@link #span()} > 0). */
    long headOffset() {
        return offsets[(int) (headSeq & mask)];
    }

    /** Offsets tracked above the watermark, finished or not. */
    int span() {
        return (int) (tailSeq - headSeq);
    }

    /** The offset to commit (next to consume), or -1 if nothing finished since assignment. */
    long watermark() {
        return watermark;
    }

    /** True if the watermark is past what the transport confirmed committed. */
    boolean hasUncommitted() {
        return watermark > committed;
    }

    /** True if a background commit should be sent: unconfirmed, and not already sent (or the send failed). */
    boolean needsBackgroundCommit() {
        return watermark > committed && watermark > sent;
    }

    void markSent(long offset) {
        sent = Math.max(sent, offset);
    }

    /** A background commit of {@code offset} failed: unless a later one was sent since, send the watermark again. */
    void markFailed(long offset) {
        if (sent == offset) {
            sent = committed;
        }
    }

    void markCommitted(long offset) {
        committed = Math.max(committed, offset);
        sent = Math.max(sent, offset);
    }

    private void grow() {
        int capacity = offsets.length;
        long[] newOffsets = new long[capacity * 2];
        long[] newDone = new long[(capacity * 2) >>> 6];
        int newMask = capacity * 2 - 1;
        for (long s = headSeq; s < tailSeq; s++) {
            int from = (int) (s & mask);
            int to = (int) (s & newMask);
            newOffsets[to] = offsets[from];
            if ((done[from >>> 6] & (1L << from)) != 0) {
                newDone[to >>> 6] |= 1L << to;
            }
        }
        offsets = newOffsets;
        done = newDone;
        mask = newMask;
    }
}
