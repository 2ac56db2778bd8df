package io.sluice.log;

import java.nio.file.Path;

/** Opens a log directory, says READY, and keeps it open until killed. */
public final class LockHolderChild {
    private LockHolderChild() {
    }

    public static void main(String[] args) throws Exception {
        LogTransport log = LogTransport.open(LogSettings.builder(Path.of(args[0])).build());
        System.out.println("READY " + log.directory());
        System.out.flush();
        Thread.sleep(Long.MAX_VALUE);
    }
}
