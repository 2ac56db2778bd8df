package io.sluice.log;

/**
 * Counters of a log since it was opened, for monitoring and benchmarks.
 *
 * @param records records appended
 * @param batches batches written
 * @param bytes   bytes written to segments
 * @param fsyncs  forces of a segment's data: one per writer run under {@code always}, one per interval with
 *                unsynced data under {@code interval}
 * @param fsyncNanos time spent inside those forces
 * @param recordsSkippedByRetention records group readers never read because retention deleted them first (each
 *                                  skip is also logged at WARN and recorded as a {@code RETENTION_SKIPPED} event)
 */
public record LogStats(long records, long batches, long bytes, long fsyncs, long fsyncNanos,
                       long recordsSkippedByRetention) {
}
