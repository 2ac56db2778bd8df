package io.sluice.memory;

import io.sluice.config.Checks;
import io.sluice.config.ConfigSection;
import io.sluice.spi.Transport;
import io.sluice.spi.TransportProvider;

import java.util.Set;

/**
 * {@code transport: memory}. Keys under {@code memory}: {@code partitions} (per topic, default 4) and
 * {@code maxMessageBytes} (default 1MiB).
 */
public final class MemoryTransportProvider implements TransportProvider {
    @Override
    public String name() {
        return "memory";
    }

    @Override
    public Transport create(ConfigSection settings) {
        int partitions = Checks.intBetween(settings.key("partitions"), settings.integer("partitions", 4), 1, 4096);
        long maxBytes = Checks.longBetween(settings.key("maxMessageBytes"),
                settings.bytes("maxMessageBytes", 1024 * 1024), 1, Integer.MAX_VALUE);
        settings.rejectUnknownKeys(Set.of("partitions", "maxMessageBytes"));
        return new MemoryTransport(partitions, (int) maxBytes);
    }
}
