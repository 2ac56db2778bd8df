package io.sluice.nats;

import io.sluice.brokers.nats.NatsServer;

import java.time.Duration;

/** One real nats-server shared by the test classes of this module (started on first use, stopped at JVM exit). */
final class NatsTestServer {
    private static NatsServer server;

    private NatsTestServer() {
    }

    static synchronized NatsServer get() {
        if (server == null || !server.isRunning()) {
            server = NatsServer.start();
            NatsServer s = server;
            Runtime.getRuntime().addShutdownHook(new Thread(s::close));
        }
        return server;
    }

    /** Settings for tests: short heartbeats and pulls, so rebalances and closes are quick. */
    static NatsSettings.Builder settings(String url) {
        return NatsSettings.builder().server(url)
                .group(Duration.ofMillis(200), Duration.ofSeconds(3))
                .pullExpiry(Duration.ofMillis(500));
    }

    /** One key per partition of a topic with {@code partitions} partitions: element {@code p} maps to partition p. */
    static String[] keysPerPartition(int partitions) {
        String[] keys = new String[partitions];
        int found = 0;
        for (int i = 0; found < partitions; i++) {
            String key = "key-" + i;
            int p = Names.partitionFor(key, partitions);
            if (keys[p] == null) {
                keys[p] = key;
                found++;
            }
        }
        return keys;
    }
}
