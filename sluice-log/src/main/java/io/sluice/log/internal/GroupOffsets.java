package io.sluice.log.internal;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * The committed offsets of one consumer group on one topic, in {@code <topic>/groups/<group>.offsets}: a journal of
 * fixed-size commit records, the last sound record of a partition being its committed offset. Appending a record and
 * forcing the file is one write and one fsync per batch of commits; a record torn by a crash fails its CRC and the
 * partition keeps its previous commit, so a crash can only cause redelivery, never loss. The journal is compacted to
 * one record per partition when it grows.
 *
 * <pre>
 *  int32  partition
 *  int64  next offset to deliver
 *  int64  commit time (ms since the epoch)
 *  int32  CRC32C of the 20 bytes above
 * </pre>
 *
 * <p>Threads: {@link #committed} and {@link #set} from any thread; file operations on the {@link OffsetStore} thread.
 */
public final class GroupOffsets {
    private static final Logger log = LoggerFactory.getLogger(GroupOffsets.class);
    public static final String SUFFIX = ".offsets";
    static final int RECORD = 24;
    private static final int COMPACT_AFTER_RECORDS = 4096;

    final String topic;
    final String group;
    final Path file;
    private final AtomicLongArray committed;
    private FileChannel channel;
    private long records;

    private GroupOffsets(String topic, String group, Path file, int partitions) {
        this.topic = topic;
        this.group = group;
        this.file = file;
        this.committed = new AtomicLongArray(partitions);
        for (int i = 0; i < partitions; i++) {
            committed.set(i, -1);
        }
    }

    /** A group with no commits yet; its file is created on the first commit. */
    static GroupOffsets create(String topic, String group, Path file, int partitions) {
        return new GroupOffsets(topic, group, file, partitions);
    }

    /** Loads the journal at {@code file}: the last sound record of each partition wins. */
    public static GroupOffsets load(String topic, String group, Path file, int partitions) throws IOException {
        GroupOffsets g = new GroupOffsets(topic, group, file, partitions);
        byte[] bytes = Files.readAllBytes(file);
        int n = bytes.length / RECORD;
        ByteBuffer buf = ByteBuffer.wrap(bytes);
        for (int i = 0; i < n; i++) {
            int at = i * RECORD;
            int partition = buf.getInt(at);
            long offset = buf.getLong(at + 4);
            int crc = buf.getInt(at + 20);
            if (crc != BatchFormat.crc(bytes, at, 20)) {
                if (i < n - 1) {
                    log.warn("Offsets of group {} on topic {}: commit record {} in {} fails its CRC and is ignored; "
                            + "an older commit of its partition may apply (messages after it are redelivered)", group,
                            topic, i, file);
                }
                continue;
            }
            if (partition < 0 || partition >= partitions || offset < 0) {
                log.warn("Offsets of group {} on topic {}: commit record {} in {} names partition {} offset {}, "
                        + "which the topic does not have; ignored", group, topic, i, file, partition, offset);
                continue;
            }
            g.committed.set(partition, offset);
        }
        g.records = n;
        return g;
    }

    /** The committed next offset of {@code partition}, or -1. */
    public long committed(int partition) {
        return partition < committed.length() ? committed.get(partition) : -1;
    }

    public int partitions() {
        return committed.length();
    }

    void set(int partition, long offset) {
        committed.set(partition, offset);
    }

    /** Appends commit records (OffsetStore thread); the caller forces afterwards. */
    void write(int[] partitions, long[] offsets, long nowMillis) throws IOException {
        if (channel == null) {
            Files.createDirectories(file.getParent());
            boolean fresh = !Files.exists(file);
            channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            records = channel.size() / RECORD;
            if (fresh) {
                Dirs.fsync(file.getParent());
            }
        }
        ByteBuffer buf = ByteBuffer.allocate(partitions.length * RECORD);
        for (int i = 0; i < partitions.length; i++) {
            int at = i * RECORD;
            buf.putInt(at, partitions[i]).putLong(at + 4, offsets[i]).putLong(at + 12, nowMillis);
            buf.putInt(at + 20, BatchFormat.crc(buf.array(), at, 20));
        }
        long position = records * RECORD;
        while (buf.hasRemaining()) {
            position += channel.write(buf, position);
        }
        records += partitions.length;
    }

    /** Forces the journal (OffsetStore thread), compacting it first when it has grown. */
    void force(long nowMillis) throws IOException {
        if (channel == null) {
            return;
        }
        if (records > COMPACT_AFTER_RECORDS) {
            compact(nowMillis);
        } else {
            channel.force(false);
        }
    }

    /** Rewrites the journal with one record per committed partition, atomically. */
    private void compact(long nowMillis) throws IOException {
        int n = 0;
        for (int p = 0; p < committed.length(); p++) {
            if (committed.get(p) >= 0) {
                n++;
            }
        }
        ByteBuffer buf = ByteBuffer.allocate(n * RECORD);
        int at = 0;
        for (int p = 0; p < committed.length(); p++) {
            long offset = committed.get(p);
            if (offset >= 0) {
                buf.putInt(at, p).putLong(at + 4, offset).putLong(at + 12, nowMillis);
                buf.putInt(at + 20, BatchFormat.crc(buf.array(), at, 20));
                at += RECORD;
            }
        }
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try (FileChannel out = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            while (buf.hasRemaining()) {
                out.write(buf);
            }
            out.force(true);
        }
        channel.close();
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        Dirs.fsync(file.getParent());
        channel = FileChannel.open(file, StandardOpenOption.WRITE);
        records = n;
    }

    void close() {
        if (channel != null) {
            try {
                channel.close();
            } catch (IOException e) {
                // forced after every batch of commits already
            }
            channel = null;
        }
    }
}
