package io.sluice.spi;

import io.sluice.Message;

/**
 * Receives fetched records from {@link TransportConsumer#poll}. Primitive arguments instead of a record object so a
 * fetch allocates only the {@link Message}. Called on the poll thread only.
 */
@FunctionalInterface
public interface RecordSink {
    /**
     * @param message         the decoded message
     * @param partition       its partition (0 for unpartitioned transports); an opaque small int to the engine,
     *                        unique per source the transport multiplexes into one consumer
     * @param offset          its offset or stream sequence; increasing within a partition
     * @param sizeBytes       its size as counted against {@code consumer.maxInFlightBytes}
     * @param deliveryAttempt 1 for a first delivery; n when the transport knows this is its n-th delivery (a
     *                        native redelivery), so handler attempts already made count towards
     *                        {@code maxAttempts}
     * @param ackHandle       for {@link Acknowledgement#PER_MESSAGE} transports, what {@link TransportConsumer#ack}
     *                        takes; otherwise null, or whatever the transport's own hooks need
     */
    void accept(Message message, int partition, long offset, int sizeBytes, int deliveryAttempt, Object ackHandle);
}
