package io.sluice;

/** A publish that failed for good: the message was not stored. The message text says why. */
public class PublishException extends SluiceException {
    public PublishException(String message) {
        super(message);
    }

    public PublishException(String message, Throwable cause) {
        super(message, cause);
    }
}
