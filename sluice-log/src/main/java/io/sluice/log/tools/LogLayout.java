package io.sluice.log.tools;

import io.sluice.log.internal.DirectoryLock;
import io.sluice.log.internal.Names;
import io.sluice.log.internal.TopicLog;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The topics and partitions found in a log directory, for the tools, which read files directly and never recover or
 * change anything. Stateless.
 */
final class LogLayout {
    private LogLayout() {
    }

    /** A topic directory and its recorded partition count (-1 if the metadata is missing). */
    record TopicDir(String name, Path dir, int partitions) {
    }

    /** Topics in {@code root}, sorted by name. */
    static List<TopicDir> topics(Path root) throws IOException {
        List<TopicDir> topics = new ArrayList<>();
        try (DirectoryStream<Path> dirs = Files.newDirectoryStream(root, Files::isDirectory)) {
            for (Path d : dirs) {
                String file = d.getFileName().toString();
                String name = Names.decode(file);
                if (name == null || file.startsWith(".")) {
                    continue;
                }
                topics.add(new TopicDir(name, d, TopicLog.recordedPartitions(d)));
            }
        }
        topics.sort((a, b) -> a.name().compareTo(b.name()));
        return topics;
    }

    /**
     * Takes the directory lock so no writer starts while a tool reads; if a process holds it, says so and goes on
     * read-only.
     *
     * @return the lock to release, or null if another process holds it
     */
    static DirectoryLock lockOrWarn(Path root, PrintStream out) throws IOException {
        DirectoryLock lock = DirectoryLock.tryAcquire(root);
        if (lock == null) {
            out.println("note: the log is open in process " + DirectoryLock.holder(root)
                    + "; its active segments may change while they are read");
        }
        return lock;
    }
}
