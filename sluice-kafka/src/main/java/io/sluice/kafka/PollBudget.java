package io.sluice.kafka;

/**
 * What one poll may still hand to the engine, in all and per partition. Made per poll and used by its thread only.
 */
final class PollBudget {
    private final int maxRecords;
    private final long maxBytes;
    private final boolean oversizedFirst;
    int delivered;
    long bytes;

    PollBudget(int maxRecords, long maxBytes, boolean oversizedFirst) {
        this.maxRecords = maxRecords;
        this.maxBytes = maxBytes;
        this.oversizedFirst = oversizedFirst;
    }

    /**
     * Records one partition may hand over in this poll: an even split of the room over the partitions assigned
     * now (asked at each use, since the first poll's rebalance assigns them).
     */
    int share(int partitions) {
        int p = Math.max(1, partitions);
        return Math.max(1, (maxRecords + p - 1) / p);
    }

    boolean hasRoom() {
        return delivered < maxRecords && bytes < maxBytes;
    }

    boolean fits(int size) {
        if (delivered >= maxRecords) {
            return false;
        }
        return bytes + size <= maxBytes || (oversizedFirst && delivered == 0);
    }

    void take(int size) {
        delivered++;
        bytes += size;
    }
}
