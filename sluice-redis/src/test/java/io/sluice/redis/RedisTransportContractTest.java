package io.sluice.redis;

import io.sluice.spi.Transport;
import io.sluice.testkit.TransportContractTest;

import java.util.Map;

/** The whole contract suite on Redis Streams, against a real redis-server. */
class RedisTransportContractTest extends TransportContractTest {
    @Override
    protected Transport createTransport() {
        return new RedisTransport(RedisTestServer.settings(RedisTestServer.get()).build());
    }

    @Override
    protected InvalidSetting invalidSetting() {
        return new InvalidSetting("redis", Map.of("partitions", 0), "redis.partitions");
    }
}
