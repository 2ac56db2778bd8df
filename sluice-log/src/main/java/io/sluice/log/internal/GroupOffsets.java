package io.sluice.log.internal;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * The committed offsets of one consumer group on one topic, in {@code <topic>/groups/<group>.offsets}: a journal of
 * fixed-size commit records, the last sound record of a partition being its committed offset. Appending a record and
 * forcing the file is one write and one fsync per batch of commits; a record torn by a crash fails its CRC and the
 * partition keeps its previous commit, so a crash can only cause redelivery, never loss. The journal is compacted to
 * one record per partition when it grows.
 *
 * <p>A commit counts as stored only once the file's directory entry is durable too: the first time a run opens the
 * journal it forces {@code groups/} and the topic directory (a previous run may have created them and died before
 * forcing), and a compaction forces {@code groups/} after its rename. After a failed write or fsync the journal is
 * not trusted (the kernel may have dropped the unwritten pages and reports that only once); the next commit rewrites it
 * whole from memory, as a compaction does.
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
    private final FileIo io;
    private final AtomicLongArray committed;
    private FileChannel channel;
    private long records;
    /** A write or force failed: the next force rewrites the journal whole instead of trusting it. */
    private boolean damaged;

    private GroupOffsets(String topic, String group, Path file, int partitions, FileIo io) {
        this.topic = topic;
        this.group = group;
        this.file = file;
        this.io = io;
        this.committed = new AtomicLongArray(partitions);
        for (int i = 0; i < partitions; i++) {
            committed.set(i, -1);
        }
    }

    /** A group with no commits yet; its file is created on the first commit. */
    static GroupOffsets create(String topic, String group, Path file, int partitions, FileIo io) {
        return new GroupOffsets(topic, group, file, partitions, io);
    }

    /** Loads the journal at {@code file} only to read it (the tools). */
    public static GroupOffsets load(String topic, String group, Path file, int partitions) throws IOException {
        return load(topic, group, file, partitions, FileIo.DEFAULT);
    }

    /** Loads the journal at {@code file}: the last sound record of each partition wins. */
    static GroupOffsets load(String topic, String group, Path file, int partitions, FileIo io)
            throws IOException {
        GroupOffsets g = new GroupOffsets(topic, group, file, partitions, io);
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
        if (damaged) {
            return; // the next force rewrites the journal from memory, these commits included
        }
        try {
            if (channel == null) {
                openJournal();
            }
            append(partitions, offsets, nowMillis);
        } catch (IOException | RuntimeException e) {
            damaged = true;
            throw e;
        }
    }

    /**
     * Opens the journal for appending (creating it and {@code groups/} if needed) and forces both directories, so
     * that the entries leading to the file are durable before any commit in it is reported stored.
     */
    private void openJournal() throws IOException {
        Path groups = file.getParent();
        io.createDirectories(groups);
        channel = io.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        records = channel.size() / RECORD;
        io.forceDirectory(groups);
        io.forceDirectory(groups.getParent());
    }

    private void append(int[] partitions, long[] offsets, long nowMillis) throws IOException {
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
        try {
            if (damaged || records > COMPACT_AFTER_RECORDS) {
                compact(nowMillis);
                damaged = false;
            } else if (channel != null) {
                channel.force(false);
            }
        } catch (IOException | RuntimeException e) {
            damaged = true;
            throw e;
        }
    }

    /** Rewrites the journal with one record per committed partition, atomically, and reopens it. */
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
        Path groups = file.getParent();
        io.createDirectories(groups);
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try (FileChannel out = io.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            while (buf.hasRemaining()) {
                out.write(buf);
            }
            out.force(true);
        }
        close();
        io.replace(tmp, file);
        io.forceDirectory(groups);
        io.forceDirectory(groups.getParent());
        channel = io.open(file, StandardOpenOption.WRITE);
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
