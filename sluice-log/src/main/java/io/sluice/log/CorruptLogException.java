package io.sluice.log;

import io.sluice.SluiceException;

import java.nio.file.Path;

/**
 * A batch that fails its checksum or does not decode, found where the log holds data it has acknowledged. The log
 * never returns such a batch as data and never skips it silently: reading the partition stops before it. The
 * exception names the damaged batch (its file, byte position and first offset) and, when the reader found one, where
 * sound batches resume after the damage: moving a group to {@link #resumeOffset()} skips exactly the damaged batches.
 */
public class CorruptLogException extends SluiceException {
    private final transient Path file;
    private final long position;
    private final long offset;
    private final long resumeOffset;
    private final long resumePosition;

    /** Damage whose end is not known. */
    public CorruptLogException(Path file, long position, long offset, String detail) {
        this(file, position, offset, -1, -1, detail);
    }

    /**
     * @param resumeOffset   the first offset of the first sound batch after the damage, or -1 if none was found
     * @param resumePosition its byte position in {@code file}, or -1 if it is not in that file (the next segment)
     */
    public CorruptLogException(Path file, long position, long offset, long resumeOffset, long resumePosition,
                               String detail) {
        super("Corrupt batch in " + file + " at byte " + position + " (offset " + offset + "): " + detail);
        this.file = file;
        this.position = position;
        this.offset = offset;
        this.resumeOffset = resumeOffset;
        this.resumePosition = resumePosition;
    }

    /** The segment file. */
    public Path file() {
        return file;
    }

    /** Byte position of the corrupt batch in the file. */
    public long position() {
        return position;
    }

    /**
     * The first offset the corrupt batch holds: from its header if the header is sound, otherwise the offset after
     * the last sound batch before it.
     */
    public long offset() {
        return offset;
    }

    /**
     * The first offset of the first sound batch after the damage (the offset to move a group to in order to skip
     * exactly the damaged batches), or -1 if no sound batch follows the damage in what the log holds.
     */
    public long resumeOffset() {
        return resumeOffset;
    }

    /**
     * The byte position in {@link #file()} of the batch at {@link #resumeOffset()}, or -1 if it starts a later
     * segment or there is none.
     */
    public long resumePosition() {
        return resumePosition;
    }
}
