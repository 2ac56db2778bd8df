package io.sluice.log.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A file of fixed-size entries that only grows at its end, shared by {@link OffsetIndex} and {@link TimeIndex}. Not
 * preallocated and not memory-mapped: an entry is one positional write of a few bytes per ~4 KiB of log, and lookups
 * (only when a reader positions itself) are a binary search of positional reads on a channel of the reader's own, so
 * an interrupted reader can never close the channel the writer appends through.
 *
 * <p>Not checksummed: indexes are derived data. Recovery checks them against the log and rebuilds what does not match.
 *
 * <p>Mutators are owned by the partition's writer thread; {@link #entries()} and the lookups of subclasses may be
 * called by any thread.
 */
abstract class IndexFile implements AutoCloseable {
    protected final Path file;
    protected final long baseOffset;
    private final int entrySize;
    private final ByteBuffer entry;
    private final FileIo io;
    private FileChannel channel;
    private volatile int entries;

    IndexFile(Path file, long baseOffset, int entrySize, boolean writable, FileIo io) throws IOException {
        this.file = file;
        this.io = io;
        this.baseOffset = baseOffset;
        this.entrySize = entrySize;
        this.entry = ByteBuffer.allocate(entrySize);
        if (writable) {
            this.channel = io.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ,
                    StandardOpenOption.WRITE);
        }
        long size = Files.exists(file) ? Files.size(file) : 0;
        this.entries = (int) Math.min(Integer.MAX_VALUE, size / entrySize);
    }

    final Path file() {
        return file;
    }

    /** Entries that readers may look up. */
    final int entries() {
        return entries;
    }

    /** Appends the entry the subclass put in {@code entry} (cleared and filled), after the last one. */
    protected final void appendEntry(java.util.function.Consumer<ByteBuffer> fill) throws IOException {
        entry.clear();
        fill.accept(entry);
        entry.flip();
        long at = (long) entries * entrySize;
        while (entry.hasRemaining()) {
            at += channel.write(entry, at);
        }
        entries++;
    }

    /** Keeps the first {@code n} entries and cuts the file there. */
    final void truncateEntries(int n) throws IOException {
        channel.truncate((long) n * entrySize);
        entries = n;
    }

    /** Every entry as stored (a trailing partial entry is ignored); for recovery and tools. */
    final ByteBuffer readAll() throws IOException {
        if (!Files.exists(file)) {
            return ByteBuffer.allocate(0);
        }
        try (FileChannel ch = io.open(file, StandardOpenOption.READ)) {
            long size = ch.size() / entrySize * entrySize;
            if (size > Integer.MAX_VALUE) {
                throw new IOException("index " + file + " is larger than 2 GiB");
            }
            ByteBuffer all = ByteBuffer.allocate((int) size);
            while (all.hasRemaining() && ch.read(all, all.position()) >= 0) {
                // keep reading
            }
            all.flip();
            return all;
        }
    }

    /** The entry in {@code slot}, read at index 0 of a fresh buffer, or null if the file ends before it. */
    final ByteBuffer readEntry(int slot) throws IOException {
        ByteBuffer e = ByteBuffer.allocate(entrySize);
        try (FileChannel ch = io.open(file, StandardOpenOption.READ)) {
            long at = (long) slot * entrySize;
            while (e.hasRemaining()) {
                if (ch.read(e, at + e.position()) < 0) {
                    return null;
                }
            }
        }
        return e;
    }

    /** Replaces the whole file with {@code content} (a rebuilt index). */
    final void rewrite(ByteBuffer content) throws IOException {
        channel.truncate(0);
        long at = 0;
        while (content.hasRemaining()) {
            at += channel.write(content, at);
        }
        entries = (int) (at / entrySize);
    }

    /** Re-reads the entry count after the file was replaced from outside (a rebuilt index of a sealed segment). */
    final void refreshEntries() throws IOException {
        long size = Files.exists(file) ? Files.size(file) : 0;
        entries = (int) Math.min(Integer.MAX_VALUE, size / entrySize);
    }

    final void force() throws IOException {
        if (channel != null) {
            channel.force(true);
        }
    }

    /** Stops appending, forcing the file first if {@code force}; the file stays for readers. */
    final void seal(boolean force) throws IOException {
        if (channel != null) {
            if (force) {
                channel.force(true);
            }
            channel.close();
            channel = null;
        }
    }

    @Override
    public final void close() throws IOException {
        if (channel != null) {
            channel.close();
            channel = null;
        }
    }

    /**
     * Binary search over the file with a private read channel: the index of the last entry for which
     * {@code below.test(entry)} holds, or -1. Entries must be sorted so that the predicate holds for a prefix.
     */
    final int lastWhere(EntryTest below) throws IOException {
        int n = entries;
        if (n == 0) {
            return -1;
        }
        try (FileChannel ch = io.open(file, StandardOpenOption.READ)) {
            ByteBuffer e = ByteBuffer.allocate(entrySize);
            int lo = 0;
            int hi = n - 1;
            int found = -1;
            while (lo <= hi) {
                int mid = (lo + hi) >>> 1;
                e.clear();
                long at = (long) mid * entrySize;
                while (e.hasRemaining()) {
                    int r = ch.read(e, at + e.position());
                    if (r < 0) {
                        return found; // the file was cut under us; what we found stands
                    }
                }
                if (below.test(e)) {
                    found = mid;
                    lo = mid + 1;
                } else {
                    hi = mid - 1;
                }
            }
            return found;
        }
    }

    /** A test on one entry, read from index 0 of the buffer. */
    @FunctionalInterface
    interface EntryTest {
        boolean test(ByteBuffer entry);
    }
}
