package io.sluice.spi.support;

import io.sluice.Message;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * Chooses the partition of a message for a transport that partitions topics itself: keyed messages go to the
 * partition of their key's hash, so one key's messages stay in order; keyless ones go round robin.
 *
 * <p>The mapping is part of the stored data of a durable transport (the embedded log): changing it would move keys to
 * other partitions of an existing topic, and order per key would break across the change.
 *
 * <p>Thread-safe; no lock and no allocation per message.
 */
public final class KeyPartitioner {
    private final int partitions;
    private final AtomicInteger roundRobin = new AtomicInteger();

    /** A partitioner over {@code partitions} partitions. */
    public KeyPartitioner(int partitions) {
        if (partitions <= 0) {
            throw new IllegalArgumentException("partitions must be positive, was " + partitions);
        }
        this.partitions = partitions;
    }

    /** The partition {@code message} goes to. */
    public int partitionFor(Message message) {
        String key = message.key();
        if (key == null) {
            return Math.floorMod(roundRobin.getAndIncrement(), partitions);
        }
        int h = key.hashCode();
        return Math.floorMod(h ^ (h >>> 16), partitions); // spread the high bits: String hashes differ mostly low
    }
}
