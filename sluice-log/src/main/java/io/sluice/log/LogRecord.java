package io.sluice.log;

import io.sluice.Message;

/**
 * A record read straight from the log with {@link LogTransport#read}.
 *
 * @param topic     its topic
 * @param partition its partition
 * @param offset    its offset in the partition
 * @param message   the message as published: id, key, value, ordered headers and timestamp
 */
public record LogRecord(String topic, int partition, long offset, Message message) {
}
