package io.sluice.cli;

import io.sluice.config.SluiceConfig;

import java.util.Map;

/** The demo's built-in configuration, used when no {@code --config} is given. */
final class DemoSettings {
    private DemoSettings() {
    }

    static SluiceConfig defaultConfig() {
        return SluiceConfig.of("memory").withTransport("memory", Map.of("partitions", 6));
    }

    /** A few words on where the transport keeps its data. */
    static String describe(SluiceConfig cfg) {
        if (cfg.transport().equals("memory")) {
            return " (in-process and not durable: nothing survives the run)";
        }
        return "";
    }
}
