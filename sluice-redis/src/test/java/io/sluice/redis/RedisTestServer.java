package io.sluice.redis;

import io.sluice.brokers.redis.RedisServer;

import java.time.Duration;

/** One real redis-server shared by the test classes of this module (started on first use, stopped at JVM exit). */
final class RedisTestServer {
    private static RedisServer server;

    private RedisTestServer() {
    }

    static synchronized RedisServer get() {
        if (server == null || !server.isRunning()) {
            server = RedisServer.builder().appendOnly("everysec").start();
            RedisServer s = server;
            Runtime.getRuntime().addShutdownHook(new Thread(s::close));
        }
        return server;
    }

    /** Settings for tests: short heartbeats, claim idle time and reads, so hand-overs and closes are quick. */
    static RedisSettings.Builder settings(RedisServer server) {
        return RedisSettings.builder().host(server.host()).port(server.port())
                .claimIdle(Duration.ofMillis(300))
                .group(Duration.ofMillis(100), Duration.ofSeconds(2))
                .blockTime(Duration.ofMillis(100));
    }
}
