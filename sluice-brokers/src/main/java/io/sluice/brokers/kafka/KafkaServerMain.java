package io.sluice.brokers.kafka;

import java.lang.reflect.InvocationTargetException;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Entry point of the child JVM that {@link KafkaBroker} starts: runs {@code kafka.Kafka} with a server properties
 * file, and exits when the parent JVM is gone, so a test run that dies without cleaning up leaves no broker behind.
 * Uses only the JDK and reflection: the Kafka jars are on the child's class path, not on this module's.
 *
 * <p>Arguments: the parent's pid, the path of {@code server.properties}, and the broker's directory, which is
 * deleted after Kafka has shut down when the parent died (a parent that stops the broker itself keeps the directory
 * for a restart, and deletes it on close).
 */
public final class KafkaServerMain {
    private static final String KAFKA_SHUTDOWN_HOOK = "kafka-shutdown-hook";
    private static final long HALT_AFTER_MILLIS = 20_000;
    private static volatile boolean orphaned;

    private KafkaServerMain() {
    }

    public static void main(String[] args) throws Throwable {
        long parentPid = Long.parseLong(args[0]);
        Path directory = args.length > 2 ? Path.of(args[2]) : null;
        if (directory != null) {
            Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteWhenOrphaned(directory),
                    "sluice-broker-directory-cleanup"));
        }
        Thread watchdog = new Thread(() -> watchParent(parentPid), "sluice-parent-watchdog");
        watchdog.setDaemon(true);
        watchdog.start();
        try {
            Class.forName("kafka.Kafka").getMethod("main", String[].class).invoke(null, (Object) new String[]{args[1]});
        } catch (InvocationTargetException e) {
            throw e.getCause();
        }
    }

    private static void watchParent(long parentPid) {
        while (true) {
            Optional<ProcessHandle> parent = ProcessHandle.of(parentPid);
            if (parent.isEmpty() || !parent.get().isAlive()) {
                orphaned = true;
                // The parent died without stopping us: shut down through Kafka's own hook, but never hang.
                Thread halt = new Thread(() -> {
                    sleep(HALT_AFTER_MILLIS);
                    Runtime.getRuntime().halt(1);
                });
                halt.setDaemon(true);
                halt.start();
                System.exit(0);
            }
            sleep(500);
        }
    }

    /**
     * Shutdown hooks run concurrently: wait for Kafka's to finish closing its logs (it may still write checkpoint
     * files), then delete the directory.
     */
    private static void deleteWhenOrphaned(Path directory) {
        if (!orphaned) {
            return;
        }
        long deadline = System.nanoTime() + (HALT_AFTER_MILLIS - 5_000) * 1_000_000L;
        long seenBy = System.nanoTime() + 2_000_000_000L; // hooks are started one after another
        while (!kafkaShuttingDown() && System.nanoTime() - seenBy < 0) {
            sleep(20);
        }
        while (kafkaShuttingDown() && System.nanoTime() - deadline < 0) {
            sleep(50);
        }
        Directories.deleteRecursively(directory);
    }

    private static boolean kafkaShuttingDown() {
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.getName().equals(KAFKA_SHUTDOWN_HOOK) && t.isAlive()) {
                return true;
            }
        }
        return false;
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
