package io.sluice.testkit;

import io.sluice.memory.MemoryTransport;
import io.sluice.spi.Transport;

/** Per-partition pause on the memory transport. */
class MemoryPausePartitionsTest extends PausePartitionsContractTest {
    @Override
    protected Transport createTransport() {
        return new MemoryTransport(4, 1024 * 1024);
    }
}
