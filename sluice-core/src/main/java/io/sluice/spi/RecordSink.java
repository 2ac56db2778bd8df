package io.sluice.spi;

import io.sluice.Message;

/**
 * Receives fetched records from {@link TransportConsumer#poll}. Primitive arguments instead of a record object so a
 * fetch allocates only the {@link Message}. Called on the poll thread only.
 */
@FunctionalInterface
public interface RecordSink {
    /**
     * @param message   the decoded message
     * @param partition its partition (0 for unpartitioned transports)
     * @param offset    its offset or stream sequence; increasing within a partition
     * @param sizeBytes its size as counted against {@code consumer.maxInFlightBytes}
     * @param ackHandle for {@link Acknowledgement#PER_MESSAGE} transports, what {@link TransportConsumer#ack} takes;
     *                  null otherwise
     */
    void accept(Message message, int partition, long offset, int sizeBytes, Object ackHandle);
}
