package io.sluice.nats;

import io.sluice.SluiceException;

/** A request that got no usable reply: no responder, a timeout, or the responder's handler failed. */
public class NatsRequestException extends SluiceException {
    public NatsRequestException(String message) {
        super(message);
    }

    public NatsRequestException(String message, Throwable cause) {
        super(message, cause);
    }
}
