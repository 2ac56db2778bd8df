package io.sluice.log.internal;

import java.io.IOException;
import java.nio.file.Path;

/** A reader reached a segment that retention deleted; it repositions at the new start of the log. */
public final class SegmentDeletedException extends IOException {
    public SegmentDeletedException(Path file) {
        super("segment " + file + " was deleted by retention");
    }
}
