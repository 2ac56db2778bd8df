package io.sluice.log;

import io.sluice.SluiceException;

/** The log directory is already open in another process (or earlier in this one). */
public class LogLockedException extends SluiceException {
    public LogLockedException(String message) {
        super(message);
    }
}
