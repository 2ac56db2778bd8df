package io.sluice.rabbitmq;

import io.sluice.spi.Transport;
import io.sluice.testkit.PausePartitionsContractTest;

/** The pause/resume contract on the SPI, against a real RabbitMQ node. */
class RabbitMqPausePartitionsTest extends PausePartitionsContractTest {
    @Override
    protected Transport createTransport() {
        return new RabbitMqTransport(RabbitMqTestServer.settings().build());
    }
}
