package io.sluice.nats;

import io.sluice.spi.Transport;
import io.sluice.testkit.TransportContractTest;

import java.util.Map;

/**
 * The contract suite on NATS core (at most once). By capability the suite skips, each with its reason, what an
 * at-most-once transport cannot promise (redelivery after a consumer stops mid-flight or a member leaves), and checks
 * a queue group's split of work without per-key order across its members (no ordered partitions).
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
