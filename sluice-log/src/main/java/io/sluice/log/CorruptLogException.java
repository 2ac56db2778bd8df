package io.sluice.log;

import io.sluice.SluiceException;

import java.nio.file.Path;

/**
 * A batch that fails its checksum or does not decode, found where the log holds data it has acknowledged. The log
 * never returns such a batch as data and never skips it silently: reading the partition stops before it.
 */
public class CorruptLogException extends SluiceException {
    private final transient Path file;
    private final long position;
    private final long offset;

    public CorruptLogException(Path file, long position, long offset, String detail) {
        super("Corrupt batch in " + file + " at byte " + position + " (offset " + offset + "): " + detail);
        this.file = file;
        this.position = position;
        this.offset = offset;
    }

    /** The segment file. */
    public Path file() {
        return file;
    }

    /** Byte position of the corrupt batch in the file. */
    public long position() {
        return position;
    }

    /** The first offset the corrupt batch should hold (the next offset the reader expected). */
    public long offset() {
        return offset;
    }
}
