package io.sluice.rabbitmq;

import io.sluice.config.ConfigSection;
import io.sluice.spi.Transport;
import io.sluice.spi.TransportProvider;

/** {@code transport: rabbitmq}; settings under {@code rabbitmq:} (see {@link RabbitMqSettings}). */
public final class RabbitMqTransportProvider implements TransportProvider {
    @Override
    public String name() {
        return "rabbitmq";
    }

    @Override
    public Transport create(ConfigSection settings) {
        return new RabbitMqTransport(RabbitMqSettings.from(settings));
    }
}
