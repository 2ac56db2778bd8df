package io.sluice.log.internal;

import java.io.IOException;
import java.nio.file.Path;

/**
 * The sparse offset index of one segment ({@code <base offset>.index}): one entry per ~{@code indexIntervalBytes} of
 * log, pointing at the start of a batch.
 *
 * <pre>
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +---------------------------------------------------------------+
 *  |  relative offset: batch base offset - segment base offset     |
 *  +---------------------------------------------------------------+
 *  |  position: byte position of that batch in the .log file       |
 *  +---------------------------------------------------------------+
 * </pre>
 *
 * Both fields strictly increase from entry to entry and are never 0 (a lookup below the first entry starts at position
 * 0, so position 0 needs no entry). A lookup answers the last entry at or below an offset.
 *
 * <p>Appends and truncation: the partition's writer thread only. Lookups: any thread.
 */
public final class OffsetIndex extends IndexFile {
    public static final int ENTRY_SIZE = 8;

    OffsetIndex(Path file, long baseOffset, boolean writable, FileIo io) throws IOException {
        super(file, baseOffset, ENTRY_SIZE, writable, io);
    }

    void append(int relativeOffset, int position) throws IOException {
        appendEntry(e -> e.putInt(relativeOffset).putInt(position));
    }

    /**
     * The byte position of the last indexed batch starting at or before {@code offset}, packed with its relative
     * offset as {@code relative << 32 | position}; 0 (relative 0, position 0) when no entry is at or below it.
     */
    long lookup(long offset) throws IOException {
        return lookup(offset, Long.MAX_VALUE);
    }

    /**
     * As {@link #lookup(long)}, among the entries whose position is below {@code positionLimit}: a reader passes its
     * segment's read limit, so it never starts from a batch the writer has written (and indexed) but not yet
     * published.
     */
    long lookup(long offset, long positionLimit) throws IOException {
        long relative = offset - baseOffset;
        long[] found = {0};
        // The last probe that passes is the answer: later passing probes only move towards higher slots. Relative
        // offsets and positions both grow with the slot, so the entries that pass are a prefix.
        lastWhere(e -> {
            boolean atOrBelow = e.getInt(0) <= relative && e.getInt(4) < positionLimit;
            if (atOrBelow) {
                found[0] = pack(e.getInt(0), e.getInt(4));
            }
            return atOrBelow;
        });
        return found[0];
    }

    static long pack(int relative, int position) {
        return (long) relative << 32 | (position & 0xffffffffL);
    }

    static int relative(long packed) {
        return (int) (packed >>> 32);
    }

    static int position(long packed) {
        return (int) packed;
    }
}
