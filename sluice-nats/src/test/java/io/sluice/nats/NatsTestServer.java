package io.sluice.nats;

import io.sluice.brokers.nats.NatsServer;
import io.sluice.brokers.nats.TlsMaterial;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * One real nats-server shared by the test classes of this module (started on first use, stopped at JVM exit), and TLS
 * material generated once for the classes that need it.
 */
final class NatsTestServer {
    private static NatsServer server;
    private static Path tlsDirectory;
    private static TlsMaterial tls;

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

    /** Throw-away TLS material (a CA and a server certificate it signed), generated once per test run. */
    static synchronized TlsMaterial tls() {
        if (tls == null) {
            tls = TlsMaterial.generate(tlsDirectory().resolve("server"));
        }
        return tls;
    }

    private static Path tlsDirectory() {
        if (tlsDirectory == null) {
            try {
                tlsDirectory = Files.createTempDirectory("sluice-nats-tls-");
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            Path created = tlsDirectory;
            Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteTree(created)));
        }
        return tlsDirectory;
    }

    private static void deleteTree(Path root) {
        try (Stream<Path> walk = Files.walk(root)) {
            walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // a temporary directory: left for the OS
        }
    }

    /** Settings for tests: short heartbeats and pulls, so rebalances and closes are quick. */
    static NatsSettings.Builder settings(String url) {
        return NatsSettings.builder().server(url)
                .group(Duration.ofMillis(200), Duration.ofSeconds(3))
                .pullExpiry(Duration.ofMillis(500));
    }
}
