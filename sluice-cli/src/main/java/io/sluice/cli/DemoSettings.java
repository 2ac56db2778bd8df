package io.sluice.cli;

import io.sluice.Sluice;
import io.sluice.config.SluiceConfig;
import io.sluice.log.LogTransport;

import java.nio.file.Path;
import java.util.Map;

/** The demo's built-in configuration, used when no {@code --config} is given, and what it tells about the data. */
final class DemoSettings {
    private DemoSettings() {
    }

    /** The default transport, the embedded log, in {@code dir} with fsync always and 6 partitions. */
    static SluiceConfig defaultConfig(Path dir) {
        return SluiceConfig.of(SluiceConfig.DEFAULT_TRANSPORT)
                .withTransport("log", Map.of("dir", dir.toString(), "partitions", 6, "fsync", "always"));
    }

    /** Where the transport keeps its data and what earlier runs left there. */
    static String describe(Sluice sluice) {
        if (sluice.transport() instanceof LogTransport log) {
            String dir = log.directory().toAbsolutePath().normalize().toString();
            if (!log.topics().contains(DemoCommand.TOPIC)) {
                return "data in " + dir + " (embedded log, fsync " + log.settings().fsync().name().toLowerCase()
                        + "); first run here: " + DemoCommand.TOPIC + " is new";
            }
            long stored = 0;
            long handled = 0;
            for (int p = 0; p < log.partitions(DemoCommand.TOPIC); p++) {
                stored += log.endOffset(DemoCommand.TOPIC, p);
                handled += log.committedOffset(DemoCommand.TOPIC, DemoCommand.GROUP, p).orElse(0);
            }
            return String.format("data in %s (embedded log, fsync %s); %s already holds %,d orders from earlier runs, "
                            + "and group %s resumes at its committed offsets (%,d of them done)", dir,
                    log.settings().fsync().name().toLowerCase(), DemoCommand.TOPIC, stored, DemoCommand.GROUP, handled);
        }
        if (sluice.config().transport().equals("memory")) {
            return "in-process and not durable: nothing survives the run";
        }
        return "transport " + sluice.config().transport();
    }
}
