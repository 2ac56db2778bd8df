package io.sluice.brokers.kafka;

import java.lang.reflect.InvocationTargetException;
import java.util.Optional;

/**
 * Entry point of the child JVM that {@link KafkaBroker} starts: runs {@code kafka.Kafka} with a server properties
 * file, and exits when the parent JVM is gone, so a test run that dies without cleaning up leaves no broker behind.
 * Uses only the JDK and reflection: the Kafka jars are on the child's class path, not on this module's.
 *
 * <p>Arguments: the parent's pid, then the path of {@code server.properties}.
 */
public final class KafkaServerMain {
    private KafkaServerMain() {
    }

    public static void main(String[] args) throws Throwable {
        long parentPid = Long.parseLong(args[0]);
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
                // The parent died without stopping us: shut down through Kafka's own hook, but never hang.
                Thread halt = new Thread(() -> {
                    sleep(15_000);
                    Runtime.getRuntime().halt(1);
                });
                halt.setDaemon(true);
                halt.start();
                System.exit(0);
            }
            sleep(500);
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
