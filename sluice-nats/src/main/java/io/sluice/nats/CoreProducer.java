package io.sluice.nats;

import io.nats.client.Connection;
import io.sluice.Message;
import io.sluice.PublishException;
import io.sluice.Receipt;
import io.sluice.spi.TransientTransportException;
import io.sluice.spi.TransportProducer;

import java.util.concurrent.CompletableFuture;

/**
 * Publishes to a plain NATS subject (core mode): the topic is the subject. At most once: the future completes when
 * jnats has queued the message for the socket (or, while reconnecting, in its bounded reconnect buffer); the
 * server confirms nothing, and a message reaches only subscribers connected at that moment. Receipts carry
 * partition 0 and offset -1. Thread-safe.
 */
final class CoreProducer implements TransportProducer {
    private final Connection connection;

    CoreProducer(Connection connection) {
        this.connection = connection;
    }

    @Override
    public CompletableFuture<Receipt> send(String topic, Message message) {
        try {
            Names.checkTopic(topic, false);
            connection.publish(topic, NatsWire.headers(message), message.payload());
            return CompletableFuture.completedFuture(new Receipt(topic, 0, -1, message.id()));
        } catch (IllegalStateException e) {
            // closed connection or full reconnect buffer
            return CompletableFuture.failedFuture(new TransientTransportException("NATS core publish of message "
                    + message.id() + " to " + topic + " failed: " + e.getMessage(), e));
        } catch (IllegalArgumentException e) {
            return CompletableFuture.failedFuture(new PublishException("NATS core publish of message "
                    + message.id() + " to " + topic + " was refused: " + e.getMessage(), e));
        }
    }
}
