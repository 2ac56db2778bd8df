package io.sluice.spi;

import io.sluice.SluiceException;

/** A transport failure that may go away when the operation is tried again. */
public class TransientTransportException extends SluiceException {
    public TransientTransportException(String message) {
        super(message);
    }

    public TransientTransportException(String message, Throwable cause) {
        super(message, cause);
    }
}
