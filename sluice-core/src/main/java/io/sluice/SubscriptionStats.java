package io.sluice;

import java.util.Map;

/**
 * A snapshot of a subscription's counters.
 *
 * @param received          messages fetched from the transport
 * @param handled           messages whose handler succeeded
 * @param retried           failed attempts that were scheduled again
 * @param deadLettered      messages confirmed on the dead-letter topic
 * @param inFlight          messages fetched and not yet finished
 * @param peakInFlight      the most messages ever fetched and unfinished at once
 * @param stalledPartitions partitions whose commit watermark has stood still on an unfinished message for longer
 *                          than {@code consumer.stallWarning}, each with the offset of that message; empty when none
 */
public record SubscriptionStats(long received, long handled, long retried, long deadLettered, int inFlight,
                                int peakInFlight, Map<Integer, Long> stalledPartitions) {
    public SubscriptionStats {
        stalledPartitions = stalledPartitions == null ? Map.of() : Map.copyOf(stalledPartitions);
    }

    /** Counters of a subscription with no stalled partition. */
    public SubscriptionStats(long received, long handled, long retried, long deadLettered, int inFlight,
                             int peakInFlight) {
        this(received, handled, retried, deadLettered, inFlight, peakInFlight, Map.of());
    }
}
