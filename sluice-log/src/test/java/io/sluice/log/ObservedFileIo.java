package io.sluice.log;

import io.sluice.log.internal.BatchFormat;
import io.sluice.log.internal.FileIo;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Files;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The real file system, watched: which record offsets each fsync of a segment file covered (from the batch headers
 * written through it), when files appeared and directories were forced, and, on request, fsyncs that fail.
 *
 * <p>It models Linux's behaviour after a failed fsync: the dirty pages are dropped and a later fsync reports success,
 * so offsets written before a failed fsync of a file and not forced before it count as lost for good, whatever
 * follows. {@link #durable} tells whether an offset survives an OS crash now; tests check it when a publish future
 * completes.
 *
 * <p>Thread-safe.
 */
public final class ObservedFileIo implements FileIo {
    /** Decides what a force does; may sleep, and throws to fail it. */
    @FunctionalInterface
    public interface ForceFault {
        void beforeForce(Path file, int nth) throws IOException;
    }

    /** What is known of one segment log file. */
    private static final class LogFile {
        final long base;
        /** Highest offset whose batch a write call finished. */
        final AtomicLong writtenThrough = new AtomicLong(-1);
        /** Offsets written and covered by a successful force that started after they were written. */
        long durableThrough = -1;
        /** Ranges [from, to] of offsets lost to failed forces. */
        final List<long[]> lost = new ArrayList<>();
        /** Sequence number of the event that created the file, or -1 if it existed already. */
        long createdAt = -1;

        LogFile(long base) {
            this.base = base;
        }
    }

    private final Map<Path, LogFile> logFiles = new ConcurrentHashMap<>();
    private final Map<Path, Long> dirForcedAt = new ConcurrentHashMap<>();
    private final Map<Path, Long> fileCreatedAt = new ConcurrentHashMap<>();
    private final Map<Path, Integer> forces = new ConcurrentHashMap<>();
    private final AtomicLong sequence = new AtomicLong();
    public final List<String> events = new CopyOnWriteArrayList<>();
    private volatile ForceFault forceFault = (file, nth) -> { };
    private final Set<Path> failDirectoryForces = ConcurrentHashMap.newKeySet();

    public void onForce(ForceFault fault) {
        this.forceFault = fault;
    }

    /** Makes every later force of directory {@code dir} fail. */
    public void failDirectoryForces(Path dir) {
        failDirectoryForces.add(dir.toAbsolutePath().normalize());
    }

    private static Path key(Path p) {
        return p.toAbsolutePath().normalize();
    }

    private long event(String what) {
        long seq = sequence.incrementAndGet();
        events.add(seq + " " + what);
        return seq;
    }

    @Override
    public FileChannel open(Path file, OpenOption... options) throws IOException {
        Path f = key(file);
        boolean creating = !Files.exists(f) && List.of(options).contains(StandardOpenOption.CREATE);
        FileChannel ch = FileChannel.open(file, options);
        if (creating) {
            fileCreatedAt.put(f, event("create " + f));
        }
        String name = f.getFileName().toString();
        if (name.endsWith(".log") && name.length() == 24) {
            LogFile lf = logFiles.computeIfAbsent(f, k -> new LogFile(Long.parseLong(name.substring(0, 20))));
            if (creating) {
                synchronized (lf) {
                    lf.createdAt = fileCreatedAt.get(f);
                }
            }
        }
        return new Observed(f, ch);
    }

    @Override
    public void forceDirectory(Path dir) throws IOException {
        Path d = key(dir);
        if (failDirectoryForces.contains(d)) {
            event("forceDir FAILED " + d);
            throw new IOException("injected: fsync of directory " + d + " failed");
        }
        FileIo.DEFAULT.forceDirectory(dir);
        dirForcedAt.put(d, event("forceDir " + d));
    }

    @Override
    public void createDirectories(Path dir) throws IOException {
        Path d = key(dir);
        List<Path> missing = new ArrayList<>();
        for (Path p = d; p != null && !Files.exists(p); p = p.getParent()) {
            missing.add(0, p);
        }
        FileIo.DEFAULT.createDirectories(dir);
        for (Path p : missing) {
            fileCreatedAt.put(p, event("create " + p));
        }
    }

    @Override
    public void replace(Path source, Path target) throws IOException {
        FileIo.DEFAULT.replace(source, target);
        fileCreatedAt.put(key(target), event("replace " + key(source) + " -> " + key(target)));
    }

    @Override
    public boolean deleteIfExists(Path file) throws IOException {
        return FileIo.DEFAULT.deleteIfExists(file);
    }

    /** Lets forces of {@code dir} succeed again. */
    public void allowDirectoryForces(Path dir) {
        failDirectoryForces.remove(key(dir));
    }

    /**
     * True if the entry of {@code file} (created or renamed into place) was forced into its directory since, and so
     * were the entries of the directories above it that appeared while watched.
     */
    public boolean entryDurable(Path file) {
        for (Path f = key(file); f.getParent() != null; f = f.getParent()) {
            Long created = fileCreatedAt.get(f);
            if (created == null) {
                return true; // there before we watched, and so is everything above it
            }
            Long forced = dirForcedAt.get(f.getParent());
            if (forced == null || forced < created) {
                return false;
            }
        }
        return true;
    }

    /**
     * True if {@code offset} of the partition in {@code partitionDir} would survive an OS crash now: a force of its
     * segment that started after its batch was written succeeded, no failed force lost it, and the segment file's
     * directory entry was forced after the file was created.
     */
    public boolean durable(Path partitionDir, long offset) {
        Path dir = key(partitionDir);
        LogFile best = null;
        Path bestPath = null;
        for (Map.Entry<Path, LogFile> e : logFiles.entrySet()) {
            if (e.getKey().getParent().equals(dir) && e.getValue().base <= offset
                    && (best == null || e.getValue().base > best.base)) {
                best = e.getValue();
                bestPath = e.getKey();
            }
        }
        if (best == null) {
            return false;
        }
        synchronized (best) {
            if (offset > best.durableThrough) {
                return false;
            }
            for (long[] range : best.lost) {
                if (offset >= range[0] && offset <= range[1]) {
                    return false;
                }
            }
        }
        return entryDurable(bestPath);
    }

    /** How often {@code file} was forced successfully. */
    public int forces(Path file) {
        return forces.getOrDefault(key(file), 0);
    }

    private final class Observed extends FileChannel {
        private final Path file;
        private final FileChannel ch;
        private final LogFile logFile;

        Observed(Path file, FileChannel ch) {
            this.file = file;
            this.ch = ch;
            this.logFile = logFiles.get(file);
        }

        /** Notes the offsets of the batch that starts at {@code src}'s position, once it is written whole. */
        private long lastOffsetOf(ByteBuffer src) {
            if (logFile == null || src.remaining() < BatchFormat.HEADER_SIZE) {
                return -1;
            }
            int at = src.position();
            if (src.getInt(at) != BatchFormat.MAGIC) {
                return -1;
            }
            return BatchFormat.baseOffset(src, at) + BatchFormat.count(src, at) - 1;
        }

        private void written(long last) {
            if (last >= 0) {
                logFile.writtenThrough.accumulateAndGet(last, Math::max);
            }
        }

        @Override
        public void force(boolean metaData) throws IOException {
            int nth = forces.merge(file, 1, Integer::sum);
            long covered = logFile == null ? -1 : logFile.writtenThrough.get();
            try {
                forceFault.beforeForce(file, nth);
                ch.force(metaData);
            } catch (IOException e) {
                forces.merge(file, -1, Integer::sum);
                if (logFile != null) {
                    synchronized (logFile) {
                        // Linux drops the dirty pages: whatever was written and not yet durable is gone.
                        logFile.lost.add(new long[] {logFile.durableThrough + 1, logFile.writtenThrough.get()});
                    }
                }
                event("force FAILED " + file);
                throw e;
            }
            if (logFile != null) {
                synchronized (logFile) {
                    logFile.durableThrough = Math.max(logFile.durableThrough, covered);
                }
            }
            event("force " + file);
        }

        @Override
        public int write(ByteBuffer src, long position) throws IOException {
            long last = lastOffsetOf(src);
            int n = ch.write(src, position);
            if (!src.hasRemaining()) {
                written(last);
            }
            return n;
        }

        @Override
        public int write(ByteBuffer src) throws IOException {
            long last = lastOffsetOf(src);
            int n = ch.write(src);
            if (!src.hasRemaining()) {
                written(last);
            }
            return n;
        }

        @Override
        public long write(ByteBuffer[] srcs, int offset, int length) throws IOException {
            return ch.write(srcs, offset, length);
        }

        @Override
        public int read(ByteBuffer dst) throws IOException {
            return ch.read(dst);
        }

        @Override
        public long read(ByteBuffer[] dsts, int offset, int length) throws IOException {
            return ch.read(dsts, offset, length);
        }

        @Override
        public int read(ByteBuffer dst, long position) throws IOException {
            return ch.read(dst, position);
        }

        @Override
        public long position() throws IOException {
            return ch.position();
        }

        @Override
        public FileChannel position(long newPosition) throws IOException {
            ch.position(newPosition);
            return this;
        }

        @Override
        public long size() throws IOException {
            return ch.size();
        }

        @Override
        public FileChannel truncate(long size) throws IOException {
            ch.truncate(size);
            return this;
        }

        @Override
        public long transferTo(long position, long count, WritableByteChannel target) throws IOException {
            return ch.transferTo(position, count, target);
        }

        @Override
        public long transferFrom(ReadableByteChannel src, long position, long count) throws IOException {
            return ch.transferFrom(src, position, count);
        }

        @Override
        public MappedByteBuffer map(MapMode mode, long position, long size) throws IOException {
            return ch.map(mode, position, size);
        }

        @Override
        public FileLock lock(long position, long size, boolean shared) throws IOException {
            throw new UnsupportedOperationException("the log does not lock data files");
        }

        @Override
        public FileLock tryLock(long position, long size, boolean shared) throws IOException {
            throw new UnsupportedOperationException("the log does not lock data files");
        }

        @Override
        protected void implCloseChannel() throws IOException {
            ch.close();
        }
    }
}
