package io.sluice;

/**
 * The payload could not be decoded by the codec its content type names. Never retried: the message goes to the
 * dead-letter topic with reason {@code undecodable} and its original bytes.
 */
public class UndecodableMessageException extends RuntimeException {
    public UndecodableMessageException(String message, Throwable cause) {
        super(message, cause);
    }
}
