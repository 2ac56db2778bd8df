package io.sluice.rabbitmq;

import io.sluice.spi.Transport;
import io.sluice.testkit.TransportContractTest;

import java.util.Map;

/** The whole contract suite against a real RabbitMQ node (quorum queues). */
class RabbitMqTransportContractTest extends TransportContractTest {
    @Override
    protected Transport createTransport() {
        return new RabbitMqTransport(RabbitMqTestServer.settings().build());
    }

    @Override
    protected InvalidSetting invalidSetting() {
        return new InvalidSetting("rabbitmq", Map.of("partitions", 0), "rabbitmq.partitions");
    }
}
