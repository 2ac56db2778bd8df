package io.sluice.log;

import io.sluice.Sluice;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.SluiceConfig;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Consumes topic {@code orders} in group {@code billing} and prints {@code H <n>} for each message before its handler
 * returns (so before it can be committed). Runs until killed.
 */
public final class ConsumerChild {
    private ConsumerChild() {
    }

    public static void main(String[] args) throws Exception {
        PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), false);
        LogTransport log = LogTransport.open(LogSettings.builder(Path.of(args[0])).build());
        Sluice sluice = Sluice.create(log, SluiceConfig.of("log"));
        sluice.subscribe("orders", "billing", m -> {
            Thread.sleep(1);
            synchronized (out) {
                out.println("H " + m.header("n"));
                out.flush();
            }
        }, ConsumerOptions.builder().commitInterval(Duration.ofMillis(10)).maxInFlight(64).build());
        synchronized (out) {
            out.println("READY");
            out.flush();
        }
        Thread.sleep(Long.MAX_VALUE);
    }
}
