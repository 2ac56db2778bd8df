package io.sluice.brokers;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import java.util.stream.Stream;

/**
 * What the fixtures of packaged brokers (nats-server, rabbitmq-server, redis-server) share: installing a Debian
 * package when the broker is missing, and deleting a fixture's directory.
 *
 * <p>Thread-safe: installs run one at a time in this JVM (one lock for all packages, as apt allows one at a time
 * anyway); another process's apt run holding the dpkg lock is waited out.
 */
public final class BrokerFixtures {
    private static final Logger log = LoggerFactory.getLogger(BrokerFixtures.class);
    private static final ReentrantLock INSTALL_LOCK = new ReentrantLock();
    /** How long another apt-get (another test run on a shared machine) may hold the dpkg lock. */
    private static final long APT_LOCK_WAIT_MILLIS = 120_000;

    private BrokerFixtures() {
    }

    /**
     * Runs {@code apt-get update} and {@code apt-get install -y --no-install-recommends package} (each at most 10
     * minutes), unless {@code installed} already holds once this JVM's other installs are done.
     */
    public static void ensureDebianPackage(String debianPackage, java.util.function.BooleanSupplier installed) {
        INSTALL_LOCK.lock();
        try {
            if (installed.getAsBoolean()) {
                return;
            }
            log.info("{} not found; installing the Debian package {} with apt-get", debianPackage, debianPackage);
            runApt(List.of("apt-get", "update"));
            runApt(List.of("apt-get", "install", "-y", "--no-install-recommends", debianPackage));
        } finally {
            INSTALL_LOCK.unlock();
        }
    }

    private static void runApt(List<String> command) {
        long lockDeadline = System.currentTimeMillis() + APT_LOCK_WAIT_MILLIS;
        while (true) {
            Path output = null;
            try {
                output = Files.createTempFile("sluice-apt-", ".log");
                ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true)
                        .redirectOutput(output.toFile());
                pb.environment().put("DEBIAN_FRONTEND", "noninteractive");
                Process p = pb.start();
                if (!p.waitFor(10, TimeUnit.MINUTES)) {
                    p.destroyForcibly();
                    throw new IllegalStateException(String.join(" ", command) + " did not finish within 10 minutes");
                }
                String text = Files.readString(output);
                if (p.exitValue() == 0) {
                    return;
                }
                if (text.contains("Could not get lock") && System.currentTimeMillis() < lockDeadline) {
                    Thread.sleep(2000);
                    continue;
                }
                throw new IllegalStateException(String.join(" ", command) + " failed with exit code " + p.exitValue()
                        + " (is this machine's user root, with Debian package sources?):\n" + text);
            } catch (IOException e) {
                throw new UncheckedIOException("could not run " + String.join(" ", command), e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while running " + String.join(" ", command), e);
            } finally {
                if (output != null) {
                    try {
                        Files.deleteIfExists(output);
                    } catch (IOException ignored) {
                        // a temporary file left behind
                    }
                }
            }
        }
    }

    /** Deletes {@code root} and everything below it, best effort: what cannot be deleted is logged and left. */
    public static void deleteTree(Path root) {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(root)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            log.warn("could not delete {}: {}", root, e.getMessage());
        }
    }
}
