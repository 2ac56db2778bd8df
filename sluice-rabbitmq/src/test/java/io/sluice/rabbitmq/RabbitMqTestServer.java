package io.sluice.rabbitmq;

import io.sluice.brokers.rabbitmq.RabbitMqServer;

import java.time.Duration;

/** One real RabbitMQ node shared by the test classes of this module (started on first use, stopped at JVM exit). */
final class RabbitMqTestServer {
    private static RabbitMqServer server;

    private RabbitMqTestServer() {
    }

    static synchronized RabbitMqServer get() {
        if (server == null) {
            server = RabbitMqServer.start();
            RabbitMqServer s = server;
            Runtime.getRuntime().addShutdownHook(new Thread(s::close));
        }
        return server;
    }

    /** Settings for tests: quick heartbeats, so members find each other and leave quickly. */
    static RabbitMqSettings.Builder settings() {
        return RabbitMqSettings.builder().uri(get().uri())
                .group(Duration.ofMillis(100), Duration.ofMillis(1500))
                .recoveryInterval(Duration.ofMillis(200));
    }
}
