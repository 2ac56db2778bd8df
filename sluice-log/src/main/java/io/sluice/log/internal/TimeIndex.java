package io.sluice.log.internal;

import java.io.IOException;
import java.nio.file.Path;

/**
 * The time index of one segment ({@code <base offset>.timeindex}).
 *
 * <pre>
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +---------------------------------------------------------------+
 *  |                                                               |
 *  +  T: the largest record timestamp (ms) before relative offset R +
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |  R: a relative offset that has an entry in the offset index   |
 *  +---------------------------------------------------------------+
 * </pre>
 *
 * An entry (T, R) promises that every record of the segment below R has a timestamp at most T, so a search for the
 * first record at or after time X may start at the last entry with T &lt; X without missing any, even when timestamps
 * are not monotonic. Entries are added at offset-index points when T has grown, so both fields strictly increase. When
 * a segment is sealed a last entry (segment max timestamp, record count) is added; it gives the segment's newest
 * timestamp, which time retention and time lookups use.
 *
 * <p>Appends and truncation: the partition's writer thread only. Lookups: any thread.
 */
public final class TimeIndex extends IndexFile {
    public static final int ENTRY_SIZE = 12;

    TimeIndex(Path file, long baseOffset, boolean writable, FileIo io) throws IOException {
        super(file, baseOffset, ENTRY_SIZE, writable, io);
    }

    void append(long maxTimestampBefore, int relativeOffset) throws IOException {
        appendEntry(e -> e.putLong(maxTimestampBefore).putInt(relativeOffset));
    }

    /** The slot of the last entry with T below {@code timestamp}, or -1 when there is none. */
    int lastBelow(long timestamp) throws IOException {
        return lastWhere(e -> e.getLong(0) < timestamp);
    }

    /** The entry in {@code slot} as {T, R}, or null if the file is shorter. */
    long[] entry(int slot) throws IOException {
        java.nio.ByteBuffer e = readEntry(slot);
        return e == null ? null : new long[] {e.getLong(0), e.getInt(8)};
    }
}
