package io.sluice;

/**
 * Thrown by a handler to send the message to the dead-letter topic at once, without further attempts. The message
 * text becomes the dead letter's error message header.
 */
public class DeadLetterException extends Exception {
    public DeadLetterException(String message) {
        super(message);
    }

    public DeadLetterException(String message, Throwable cause) {
        super(message, cause);
    }
}
