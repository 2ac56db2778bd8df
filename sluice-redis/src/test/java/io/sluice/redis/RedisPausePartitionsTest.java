package io.sluice.redis;

import io.sluice.spi.Transport;
import io.sluice.testkit.PausePartitionsContractTest;

/** The pause/resume contract of the SPI on Redis Streams. */
class RedisPausePartitionsTest extends PausePartitionsContractTest {
    @Override
    protected Transport createTransport() {
        return new RedisTransport(RedisTestServer.settings(RedisTestServer.get()).build());
    }
}
