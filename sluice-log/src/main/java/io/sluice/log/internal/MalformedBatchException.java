package io.sluice.log.internal;

/**
 * A batch whose checksums passed but whose records do not decode: a bug in the writer or a file built by hand. Treated
 * like any other corruption by readers and tools.
 */
public final class MalformedBatchException extends RuntimeException {
    public MalformedBatchException(String message) {
        super(message);
    }
}
