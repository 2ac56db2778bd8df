package io.sluice.log;

import io.sluice.config.ConfigSection;
import io.sluice.spi.Transport;
import io.sluice.spi.TransportProvider;

/**
 * {@code transport: log}: the embedded durable log. Its keys under {@code log} are those of {@link LogSettings}; the
 * settings are validated before the directory is touched.
 */
public final class LogTransportProvider implements TransportProvider {
    @Override
    public String name() {
        return "log";
    }

    @Override
    public Transport create(ConfigSection settings) {
        return LogTransport.open(LogSettings.from(settings));
    }
}
