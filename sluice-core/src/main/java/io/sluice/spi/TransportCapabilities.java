package io.sluice.spi;

/**
 * What a transport can do; the contract suite adapts to it and says why when it skips a test.
 *
 * @param durable             messages survive a restart of the broker (or process, for embedded transports)
 * @param atLeastOnce         an unfinished message is delivered again to the group (false for NATS Core)
 * @param orderedPerPartition messages of one partition are delivered in publish order
 * @param acknowledgement     how finished messages are recorded
 * @param nativeDelay         the broker can redeliver a message after a delay by itself
 * @param nativeDedup         the broker drops a repeated publish of the same message id
 * @param requestReply        the transport offers request/reply
 * @param maxMessageBytes     the largest message the transport accepts, or -1 when the broker decides
 * @param cheapCommits        a commit costs little next to handling a message (embedded log, memory): the engine
 *                            then commits whenever a partition's watermark moves (coalesced: at most one commit in
 *                            flight), so a crash repeats about {@code maxInFlight} messages, instead of committing
 *                            every {@code consumer.commitInterval}
 */
public record TransportCapabilities(
        boolean durable,
        boolean atLeastOnce,
        boolean orderedPerPartition,
        Acknowledgement acknowledgement,
        boolean nativeDelay,
        boolean nativeDedup,
        boolean requestReply,
        int maxMessageBytes,
        boolean cheapCommits) {

    /** Capabilities of a transport whose commits are not cheap: the engine commits every commit interval. */
    public TransportCapabilities(boolean durable, boolean atLeastOnce, boolean orderedPerPartition,
                                 Acknowledgement acknowledgement, boolean nativeDelay, boolean nativeDedup,
                                 boolean requestReply, int maxMessageBytes) {
        this(durable, atLeastOnce, orderedPerPartition, acknowledgement, nativeDelay, nativeDedup, requestReply,
                maxMessageBytes, false);
    }
}
