package io.sluice.log.internal;

import io.sluice.log.LogStats;

import java.util.concurrent.atomic.LongAdder;

/** The log's counters, bumped by writer threads. Thread-safe. */
public final class Counters {
    final LongAdder records = new LongAdder();
    final LongAdder batches = new LongAdder();
    final LongAdder bytes = new LongAdder();
    final LongAdder fsyncs = new LongAdder();
    final LongAdder fsyncNanos = new LongAdder();
    final LongAdder skippedByRetention = new LongAdder();

    /** Counts one force that took {@code nanos}. */
    void fsynced(long nanos) {
        fsyncs.increment();
        fsyncNanos.add(nanos);
    }

    public LogStats snapshot() {
        return new LogStats(records.sum(), batches.sum(), bytes.sum(), fsyncs.sum(), fsyncNanos.sum(),
                skippedByRetention.sum());
    }
}
