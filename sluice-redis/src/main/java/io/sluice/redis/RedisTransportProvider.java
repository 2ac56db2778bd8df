package io.sluice.redis;

import io.sluice.config.ConfigSection;
import io.sluice.spi.Transport;
import io.sluice.spi.TransportProvider;

/** {@code transport: redis}; settings under {@code redis:} (see {@link RedisSettings}). */
public final class RedisTransportProvider implements TransportProvider {
    @Override
    public String name() {
        return "redis";
    }

    @Override
    public Transport create(ConfigSection settings) {
        return new RedisTransport(RedisSettings.from(settings));
    }
}
