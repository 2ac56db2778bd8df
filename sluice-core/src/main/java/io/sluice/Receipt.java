package io.sluice;

/**
 * Proof that a transport accepted a published message: where it was stored.
 *
 * @param topic     the topic it was published to
 * @param partition the partition, or 0 for unpartitioned transports
 * @param offset    its offset or stream sequence, or -1 when the transport assigns none
 * @param messageId the message id the publisher assigned or kept
 */
public record Receipt(String topic, int partition, long offset, String messageId) {
}
