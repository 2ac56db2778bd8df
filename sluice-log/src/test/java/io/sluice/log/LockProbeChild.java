package io.sluice.log;

import java.nio.file.Path;

/** Tries once to open a log directory and says how it went: "OPENED", or "REFUSED " and the error message. */
public final class LockProbeChild {
    private LockProbeChild() {
    }

    public static void main(String[] args) {
        try (LogTransport log = LogTransport.open(LogSettings.builder(Path.of(args[0])).build())) {
            System.out.println("OPENED " + log.directory());
        } catch (LogLockedException e) {
            System.out.println("REFUSED " + e.getMessage());
        }
        System.out.flush();
    }
}
