package io.sluice.nats;

import io.sluice.spi.Transport;
import io.sluice.testkit.TransportContractTest;

import java.util.Map;

/**
 * The contract suite on NATS core (at most once). The suite skips, by capability, what an at-most-once transport
 * without partitions cannot promise: redelivery after a consumer stops mid-flight, and per-key order across a queue
 * group.
 */
class CoreNatsTransportContractTest extends TransportContractTest {
    @Override
    protected Transport createTransport() {
        return new NatsTransport(NatsTestServer.settings(NatsTestServer.get().url())
                .mode(NatsSettings.Mode.CORE).build());
    }

    @Override
    protected InvalidSetting invalidSetting() {
        return new InvalidSetting("nats", Map.of("mode", "fire-and-forget"), "nats.mode");
    }
}
