package io.sluice.brokers.kafka;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * Deletes broker directories, best effort. Depends on nothing but the JDK, so the broker's own child JVM
 * ({@link KafkaServerMain}) and the fixture ({@link KafkaBroker}) share it.
 */
final class Directories {
    private Directories() {
    }

    /** Deletes {@code root} and everything below it; what cannot be deleted is left. */
    static void deleteRecursively(Path root) {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(root)) {
            paths.sorted(Comparator.reverseOrder()).forEach(path -> {
                try {
                    Files.deleteIfExists(path);
                } catch (IOException e) {
                    // best effort: a temporary directory, nothing depends on it being gone
                }
            });
        } catch (IOException e) {
            // as above
        }
    }
}
