package io.sluice.redis;

import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.api.StatefulRedisConnection;
import io.sluice.Message;
import io.sluice.brokers.redis.RedisServer;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** {@code redis.database} selects the logical database every key of the transport goes to. */
class RedisDatabaseTest {

    @Test
    void shouldKeepEveryKeyInTheConfiguredDatabase() throws Exception {
        RedisServer server = RedisTestServer.get();
        String topic = "db-" + System.nanoTime();
        try (RedisTransport t = new RedisTransport(RedisTestServer.settings(server).database(5).build())) {
            t.producer().send(topic, Message.of("k", "in db 5")).join();
        }
        RedisClient client = RedisClient.create(RedisURI.create(server.host(), server.port()));
        try (StatefulRedisConnection<String, String> c = client.connect()) {
            List<String> inDefault = c.sync().keys("sluice:" + topic + ":*");
            c.sync().select(5);
            List<String> inFive = c.sync().keys("sluice:" + topic + ":*");
            assertThat(inDefault).isEmpty();
            assertThat(inFive).hasSize(1).allSatisfy(k -> assertThat(k).startsWith("sluice:" + topic + ":"));
        } finally {
            client.shutdown();
        }
    }
}
