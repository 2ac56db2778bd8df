package io.sluice.nats;

import io.sluice.config.ConfigSection;
import io.sluice.spi.Transport;
import io.sluice.spi.TransportProvider;

/** {@code transport: nats}; settings under {@code nats:} (see {@link NatsSettings}). */
public final class NatsTransportProvider implements TransportProvider {
    @Override
    public String name() {
        return "nats";
    }

    @Override
    public Transport create(ConfigSection settings) {
        return new NatsTransport(NatsSettings.from(settings));
    }
}
