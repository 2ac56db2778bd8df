package io.sluice.log;

import java.nio.file.Path;

/**
 * Something the log found and did when it opened a directory, or found later while running: a torn tail cut off, an
 * index rebuilt, a corrupt sealed segment, records retention deleted before a group read them, a partition stopped by
 * a failed write or fsync. Every event is also logged (corruption and failures at ERROR, the rest at WARN).
 *
 * @param kind      what happened
 * @param topic     the topic
 * @param partition the partition
 * @param file      the file concerned
 * @param position  byte position in the file where it happened (-1 when not about a position)
 * @param offset    the record offset there (-1 when unknown)
 * @param bytes     bytes removed, for {@link Kind#TAIL_TRUNCATED}; otherwise 0
 * @param detail    what exactly was wrong, in words
 */
public record RecoveryEvent(Kind kind, String topic, int partition, Path file, long position, long offset, long bytes,
                            String detail) {

    /** What recovery or a reader found. */
    public enum Kind {
        /** The active segment ended in a torn or corrupt batch; the bytes from there on were cut off. */
        TAIL_TRUNCATED,
        /** An index did not match its log and was rebuilt from the log. */
        INDEX_REBUILT,
        /**
         * A batch that should be sound (in a sealed segment, or before the recovered tail of the active one) fails a
         * check. Nothing is cut: readers stop before it and report it until an operator acts.
         */
        SEGMENT_CORRUPT,
        /** The offsets of consecutive segments do not join up. */
        OFFSET_GAP,
        /** A sealed segment holding no records was removed. */
        EMPTY_SEGMENT_REMOVED,
        /** A committed group offset beyond the recovered end of its partition was moved back to the end. */
        COMMIT_CLAMPED,
        /**
         * Neither copy of the partition's recovery point could be read: every segment was checked batch by batch;
         * damage in a sealed segment is reported as {@link #SEGMENT_CORRUPT} and not cut.
         */
        RECOVERY_POINT_LOST,
        /**
         * Retention deleted records of a group that no member was reading at the time, before the group committed
         * past them; {@code offset} is the group's committed offset. The group resumes at the new log start.
         */
        RETENTION_UNCONSUMED,
        /**
         * A group's reader found the records at its position deleted by retention and moved on to the log start;
         * {@code offset} is where it was, and the detail names the offsets it skipped. Also counted in
         * {@link LogStats#recordsSkippedByRetention()}.
         */
        RETENTION_SKIPPED,
        /**
         * A write or fsync of the partition failed. Its unacknowledged publishes failed, it takes no appends until the
         * log is reopened (and recovered), and its recovery point no longer moves.
         */
        PARTITION_STOPPED
    }

    @Override
    public String toString() {
        StringBuilder b = new StringBuilder();
        b.append(kind).append(' ').append(topic).append('/').append(partition).append(' ').append(file);
        if (position >= 0) {
            b.append(" at byte ").append(position);
        }
        if (offset >= 0) {
            b.append(" (offset ").append(offset).append(')');
        }
        if (bytes > 0) {
            b.append(": cut ").append(bytes).append(" bytes");
        }
        return b.append(": ").append(detail).toString();
    }
}
