package io.sluice.rabbitmq;

import io.sluice.SluiceException;

/** A request that got no reply: no responder, a timeout, or the responder's handler failed. */
public class RabbitMqRequestException extends SluiceException {
    public RabbitMqRequestException(String message) {
        super(message);
    }

    public RabbitMqRequestException(String message, Throwable cause) {
        super(message, cause);
    }
}
