package io.sluice.kafka;

import io.sluice.config.ConfigSection;
import io.sluice.spi.Transport;
import io.sluice.spi.TransportProvider;

/** {@code transport: kafka}; settings under {@code kafka:} as described by {@link KafkaSettings}. */
public final class KafkaTransportProvider implements TransportProvider {
    @Override
    public String name() {
        return "kafka";
    }

    @Override
    public Transport create(ConfigSection settings) {
        return new KafkaTransport(KafkaSettings.from(settings));
    }
}
