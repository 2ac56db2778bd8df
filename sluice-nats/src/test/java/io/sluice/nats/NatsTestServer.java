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
}
