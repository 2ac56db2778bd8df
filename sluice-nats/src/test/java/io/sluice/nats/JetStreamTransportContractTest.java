package io.sluice.nats;

import io.sluice.spi.Transport;
import io.sluice.testkit.TransportContractTest;

import java.util.Map;

/** The whole contract suite on JetStream, against a real nats-server. */
class JetStreamTransportContractTest extends TransportContractTest {
    @Override
    protected Transport createTransport() {
        return new NatsTransport(NatsTestServer.settings(NatsTestServer.get().url()).build());
    }

    @Override
    protected InvalidSetting invalidSetting() {
        return new InvalidSetting("nats", Map.of("stream", Map.of("partitions", 0)), "nats.stream.partitions");
    }
}
