package io.sluice.spi;

import io.sluice.Message;

/**
 * A failed message handed to the transport to be delivered again after a delay (see
 * {@link TransportConsumer#redeliverLater}).
 *
 * @param message      the message as delivered
 * @param partition    where it came from
 * @param offset       its offset there
 * @param ackHandle    its ack handle, if the transport gave one
 * @param attemptsMade handler attempts made so far; the redelivery must come back with
 *                     {@code deliveryAttempt == attemptsMade + 1}
 * @param delayNanos   how long to wait before delivering it again
 */
public record Redelivery(Message message, int partition, long offset, Object ackHandle, int attemptsMade,
                         long delayNanos) {
}
