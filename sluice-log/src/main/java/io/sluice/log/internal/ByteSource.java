package io.sluice.log.internal;

import java.io.IOException;
import java.nio.ByteBuffer;

/** Positional reads of a segment's bytes. */
@FunctionalInterface
public interface ByteSource {
    /** Reads into {@code dst} from file position {@code position}; -1 at end of file. */
    int read(ByteBuffer dst, long position) throws IOException;
}
