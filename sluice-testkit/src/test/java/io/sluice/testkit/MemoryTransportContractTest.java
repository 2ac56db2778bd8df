package io.sluice.testkit;

import io.sluice.memory.MemoryTransport;
import io.sluice.spi.Transport;

import java.util.Map;

/** The contract suite on the memory transport, the reference implementation of the SPI. */
class MemoryTransportContractTest extends TransportContractTest {
    @Override
    protected Transport createTransport() {
        return new MemoryTransport(4, 1024 * 1024);
    }

    @Override
    protected InvalidSetting invalidSetting() {
        return new InvalidSetting("memory", Map.of("partitions", 0), "memory.partitions");
    }
}
