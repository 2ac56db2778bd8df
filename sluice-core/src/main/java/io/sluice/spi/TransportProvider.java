package io.sluice.spi;

import io.sluice.config.ConfigSection;

/**
 * Creates a {@link Transport} from its configuration section; found with {@link java.util.ServiceLoader}, so adding
 * a transport module to the class path makes its name usable in {@code sluice.yaml}.
 */
public interface TransportProvider {
    /** The name in configuration, such as {@code memory} or {@code kafka}. */
    String name();

    /**
     * Creates the transport. Reads its settings from {@code settings} (the section named after the transport) and
     * fails with {@link io.sluice.config.ConfigException} on a bad or unknown key.
     */
    Transport create(ConfigSection settings);
}
