package io.sluice.spi;

/** How a transport learns that messages are finished. */
public enum Acknowledgement {
    /**
     * Per partition, the group commits the offset after the last finished message of a contiguous run (Kafka, the
     * embedded log, memory). The engine never commits past an unfinished message.
     */
    OFFSETS,
    /** Each message is acknowledged on its own when its outcome is final (NATS JetStream and Core). */
    PER_MESSAGE
}
