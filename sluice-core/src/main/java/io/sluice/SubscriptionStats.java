package io.sluice;

/**
 * A snapshot of a subscription's counters.
 *
 * @param received     messages fetched from the transport
 * @param handled      messages whose handler succeeded
 * @param retried      failed attempts that were scheduled again
 * @param deadLettered messages confirmed on the dead-letter topic
 * @param inFlight     messages fetched and not yet finished
 * @param peakInFlight the most messages ever fetched and unfinished at once
 */
public record SubscriptionStats(long received, long handled, long retried, long deadLettered, int inFlight,
                                int peakInFlight) {
}
