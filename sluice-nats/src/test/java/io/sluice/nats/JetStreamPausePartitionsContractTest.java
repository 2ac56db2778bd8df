package io.sluice.nats;

import io.sluice.spi.Transport;
import io.sluice.testkit.PausePartitionsContractTest;

/** The per-partition pause contract on JetStream, against a real nats-server (topics get 3 partitions). */
class JetStreamPausePartitionsContractTest extends PausePartitionsContractTest {
    @Override
    protected Transport createTransport() {
        return new NatsTransport(NatsTestServer.settings(NatsTestServer.get().url()).build());
    }
}
