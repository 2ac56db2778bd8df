package io.sluice.log.internal;

import io.sluice.Message;
import io.sluice.log.LogSettings;
import io.sluice.log.RecoveryEvent;
import io.sluice.spi.support.KeyPartitioner;
import io.sluice.spi.support.PollSignals;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.function.Consumer;

/**
 * A topic of the log: a directory holding {@code topic.properties} (its partition count, fixed at creation), one
 * directory per partition, and {@code groups/} with the committed offsets of each consumer group.
 *
 * <p>Thread-safe. Created by the transport on a platform thread.
 */
public final class TopicLog {
    private static final Logger log = LoggerFactory.getLogger(TopicLog.class);
    public static final String META_FILE = "topic.properties";
    public static final String GROUPS_DIR = "groups";

    final String name;
    final Path dir;
    final PartitionLog[] partitions;
    final PartitionWriter[] writers;
    private final FileIo io;
    private final ConcurrentHashMap<String, LogGroup> groups = new ConcurrentHashMap<>();
    private final KeyPartitioner partitioner;
    /** The consumers to wake when records are published. */
    final PollSignals consumers = new PollSignals();

    private TopicLog(String name, Path dir, PartitionLog[] partitions, Executor executor, LogSettings settings,
                     ThreadLocal<BatchBuilder> builders, Counters counters, FileIo io) {
        this.name = name;
        this.dir = dir;
        this.io = io;
        this.partitions = partitions;
        this.partitioner = new KeyPartitioner(partitions.length);
        this.writers = new PartitionWriter[partitions.length];
        for (int p = 0; p < partitions.length; p++) {
            writers[p] = new PartitionWriter(partitions[p], executor, settings.fsync(), builders,
                    consumers::signalAll, counters);
        }
    }

    /** The directory of topic {@code name} under the log root. */
    public static Path directory(Path root, String name) {
        return root.resolve(Names.encode(name));
    }

    /** The partition count recorded for the topic in {@code dir}, or -1 if it has no metadata file. */
    public static int recordedPartitions(Path dir) throws IOException {
        Path meta = dir.resolve(META_FILE);
        if (!Files.exists(meta)) {
            return -1;
        }
        Properties p = new Properties();
        try (var in = Files.newBufferedReader(meta, StandardCharsets.UTF_8)) {
            p.load(in);
        }
        try {
            return Integer.parseInt(p.getProperty("partitions", "-1").trim());
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    /**
     * Opens topic {@code name} under {@code root}, creating it with {@code settings.partitions()} partitions if it is
     * new, and recovers its partitions and groups.
     */
    static TopicLog open(Path root, String name, LogSettings settings, Executor executor,
                         ThreadLocal<BatchBuilder> builders, Counters counters, FileIo io,
                         Consumer<RecoveryEvent> events) throws IOException {
        Path dir = directory(root, name);
        int count = Files.isDirectory(dir) ? recordedPartitions(dir) : -1;
        if (count <= 0) {
            count = Files.isDirectory(dir) ? existingPartitionDirs(dir) : 0;
            if (count > 0) {
                log.warn("Topic {} in {} has no {}; found {} partition directories and recorded that", name, dir,
                        META_FILE, count);
            } else {
                count = settings.partitions();
            }
            io.createDirectories(dir);
            writeMeta(dir, count, io);
            io.forceDirectory(root);
        }
        PartitionLog[] partitions = new PartitionLog[count];
        for (int p = 0; p < count; p++) {
            Path pdir = dir.resolve(Integer.toString(p));
            boolean fresh = !Files.isDirectory(pdir);
            partitions[p] = PartitionLog.open(name, p, pdir, settings, io, counters, events);
            if (fresh) {
                io.forceDirectory(dir);
            }
        }
        TopicLog topic = new TopicLog(name, dir, partitions, executor, settings, builders, counters, io);
        topic.loadGroups();
        for (int p = 0; p < count; p++) {
            int partition = p;
            partitions[p].groupPositions(() -> topic.unreadCommits(partition));
        }
        return topic;
    }

    private static int existingPartitionDirs(Path dir) throws IOException {
        int n = 0;
        while (Files.isDirectory(dir.resolve(Integer.toString(n)))) {
            n++;
        }
        return n;
    }

    private static void writeMeta(Path dir, int partitions, FileIo io) throws IOException {
        Path tmp = dir.resolve(META_FILE + ".tmp");
        String text = "# Sluice log topic; the partition count is fixed when the topic is created\n"
                + "partitions=" + partitions + "\nformat=1\n";
        ByteBuffer bytes = ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8));
        try (FileChannel ch = io.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            while (bytes.hasRemaining()) {
                ch.write(bytes);
            }
            ch.force(true);
        }
        io.replace(tmp, dir.resolve(META_FILE));
        io.forceDirectory(dir);
    }

    private void loadGroups() throws IOException {
        Path groupsDir = dir.resolve(GROUPS_DIR);
        if (!Files.isDirectory(groupsDir)) {
            return;
        }
        try (DirectoryStream<Path> files = Files.newDirectoryStream(groupsDir)) {
            for (Path f : files) {
                String file = f.getFileName().toString();
                if (file.endsWith(".tmp")) {
                    io.deleteIfExists(f); // an interrupted compaction; the journal itself is intact
                    continue;
                }
                if (!file.endsWith(GroupOffsets.SUFFIX)) {
                    continue;
                }
                String group = Names.decode(file.substring(0, file.length() - GroupOffsets.SUFFIX.length()));
                if (group == null) {
                    log.warn("Ignoring {}: not a group offsets file of the log", f);
                    continue;
                }
                GroupOffsets offsets = GroupOffsets.load(name, group, f, partitions.length, io);
                groups.put(group, new LogGroup(group, offsets, partitions.length));
            }
        }
    }

    public String name() {
        return name;
    }

    public PartitionLog[] partitions() {
        return partitions;
    }

    PartitionWriter writer(int partition) {
        return writers[partition];
    }

    /** Keyed messages go to the partition of their key's hash; keyless ones round-robin. */
    int partitionFor(Message message) {
        return partitioner.partitionFor(message);
    }

    /** The group {@code name}, created (without any file) if new. */
    LogGroup group(String group) {
        return groups.computeIfAbsent(group, g -> new LogGroup(g, GroupOffsets.create(name, g,
                dir.resolve(GROUPS_DIR).resolve(Names.encode(g) + GroupOffsets.SUFFIX), partitions.length, io),
                partitions.length));
    }

    LogGroup existingGroup(String group) {
        return groups.get(group);
    }

    Iterable<LogGroup> groups() {
        return groups.values();
    }

    /**
     * The committed offsets on {@code partition} of the groups that no member is reading it now (group name to next
     * offset), for retention to report what it deletes unread. A member reading it reports a skip itself.
     */
    private Map<String, Long> unreadCommits(int partition) {
        Map<String, Long> unread = new HashMap<>();
        for (LogGroup g : groups.values()) {
            long committed = g.offsets.committed(partition);
            if (committed >= 0 && !g.isOwned(partition)) {
                unread.put(g.name, committed);
            }
        }
        return unread;
    }

    @Override
    public String toString() {
        return "TopicLog{" + name + ", partitions=" + partitions.length + '}';
    }
}
