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
     * Takes a shared lock on the directory while a tool reads, so no process can open the log for writing meanwhile,
     * and says so; if the log is open (in this process or another) or the lock cannot be taken, the tool reads
     * without it and says why. Never creates or writes the lock file, and never touches the lock a transport in this
     * process holds.
     *
     * @return what to close when done
     */
    static DirectoryLock.ReadAccess lockForReading(Path root, PrintStream out) throws IOException {
        DirectoryLock.ReadAccess access = DirectoryLock.forReading(root);
        if (access.lock() != null) {
            out.println("lock: shared (no process can open the log while this runs)");
        } else {
            out.println("lock: none, " + access.note());
        }
        return access;
    }
}
