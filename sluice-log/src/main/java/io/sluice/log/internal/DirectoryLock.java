package io.sluice.log.internal;

import io.sluice.log.LogLockedException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The lock that makes a log directory one process's: an exclusive OS lock on {@code <dir>/.lock}, which also holds the
 * owner's pid for the error message of the next one to try. The OS drops the lock when the process dies, however it
 * dies, so a crash never leaves a stale lock; the pid left in the file is then simply overwritten.
 *
 * <p><b>Within one process</b> the OS lock cannot be relied on: Java file locks on Linux are POSIX record locks, which
 * belong to the process, and closing <em>any</em> descriptor the process has on the file releases them. So a second
 * open in the same JVM that merely opened and closed {@code .lock} (or read the pid from it) would silently drop the
 * first owner's lock, and another process could then open the directory too. Every holder in this JVM is therefore
 * registered here by the directory's real path, and the registry is consulted <em>before</em> any descriptor on
 * {@code .lock} is opened; the owner's pid is known from memory, never read back from the file.
 *
 * <p>Tools that only read ({@link #forReading}) take a shared lock through a read-only descriptor when no one holds
 * the directory, so no writer can open it meanwhile, and never create or write {@code .lock}; if it is held, missing or
 * cannot be locked (a read-only snapshot, say) they read without it and say so.
 *
 * <p>Thread-safe: acquired once by the opening thread, released once on close.
 */
public final class DirectoryLock implements AutoCloseable {
    public static final String FILE_NAME = ".lock";
    /** Directories this process holds, by real path: an owner's exclusive lock or a tool's shared one. */
    private static final ConcurrentHashMap<Path, DirectoryLock> HELD = new ConcurrentHashMap<>();
    /**
     * Descriptors on a {@code .lock} that something else in this JVM (not this class) had locked: never closed, since
     * closing them would release that lock too.
     */
    private static final List<FileChannel> NEVER_CLOSE = new CopyOnWriteArrayList<>();

    private final Path key;
    private final Path dir;
    private final Path file;
    private final boolean shared;
    private FileChannel channel;
    private FileLock lock;

    private DirectoryLock(Path key, Path dir, boolean shared) {
        this.key = key;
        this.dir = dir;
        this.file = dir.resolve(FILE_NAME);
        this.shared = shared;
    }

    /**
     * Takes the lock of {@code dir} (which must exist) or fails at once.
     *
     * @throws LogLockedException naming the directory and the holder's pid if another process (or this one) holds it
     */
    public static DirectoryLock acquire(Path dir) throws IOException {
        DirectoryLock mine = new DirectoryLock(dir.toRealPath(), dir, false);
        DirectoryLock held = HELD.putIfAbsent(mine.key, mine);
        if (held != null) {
            throw held.shared
                    ? new LogLockedException("Log directory " + dir.toAbsolutePath() + " is being read by a log tool "
                    + "in this process (pid " + ProcessHandle.current().pid() + "); open it when the tool is done")
                    : new LogLockedException("Log directory " + dir.toAbsolutePath() + " is already open in this "
                    + "process (pid " + ProcessHandle.current().pid() + "); open it once and share the transport");
        }
        try {
            mine.lockExclusively();
            return mine;
        } catch (IOException | RuntimeException | Error e) {
            HELD.remove(mine.key, mine);
            throw e;
        }
    }

    private void lockExclusively() throws IOException {
        FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ,
                StandardOpenOption.WRITE);
        FileLock l;
        try {
            l = ch.tryLock();
        } catch (OverlappingFileLockException e) {
            NEVER_CLOSE.add(ch);
            throw new LogLockedException("Log directory " + dir.toAbsolutePath() + " is locked by other code in this "
                    + "process (pid " + ProcessHandle.current().pid() + ", lock file " + file.toAbsolutePath() + ")");
        }
        if (l == null) {
            String holder = describeHolder(readPid(ch));
            ch.close();
            throw new LogLockedException("Log directory " + dir.toAbsolutePath() + " is in use by another process "
                    + "(" + holder + ", lock file " + file.toAbsolutePath() + "); a log directory can be open in one "
                    + "process at a time");
        }
        try {
            ch.truncate(0);
            ch.write(ByteBuffer.wrap((ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII)), 0);
            ch.force(true);
        } catch (IOException | RuntimeException e) {
            l.release();
            ch.close();
            throw e;
        }
        this.channel = ch;
        this.lock = l;
    }

    /**
     * How a tool that only reads {@code dir} may go ahead.
     *
     * @param lock the shared lock to release when done, or null if reading without one
     * @param note why there is no lock (to show the user), or null
     */
    public record ReadAccess(DirectoryLock lock, String note) implements AutoCloseable {
        @Override
        public void close() throws IOException {
            if (lock != null) {
                lock.close();
            }
        }
    }

    /**
     * Takes a shared lock on {@code dir} for a tool that only reads, if no one holds it: writers cannot open the
     * directory meanwhile. Never creates or writes anything. If the directory is open (in this process or another),
     * has no lock file, or the lock cannot be taken, the tool reads without the lock, with a note saying why.
     */
    public static ReadAccess forReading(Path dir) throws IOException {
        DirectoryLock mine = new DirectoryLock(dir.toRealPath(), dir, true);
        DirectoryLock held = HELD.putIfAbsent(mine.key, mine);
        long self = ProcessHandle.current().pid();
        if (held != null) {
            return new ReadAccess(null, held.shared ? "another log tool in this process (pid " + self + ") is "
                    + "reading it" : "the log is open in this process (pid " + self + "); its active segments may "
                    + "change while they are read");
        }
        FileChannel ch = null;
        try {
            if (!Files.exists(mine.file)) {
                HELD.remove(mine.key, mine);
                return new ReadAccess(null, "no lock file: no process has the log open, but nothing keeps one from "
                        + "opening it while it is read");
            }
            ch = FileChannel.open(mine.file, StandardOpenOption.READ);
            FileLock l = ch.tryLock(0, Long.MAX_VALUE, true);
            if (l == null) {
                String holder = describeHolder(readPid(ch));
                ch.close();
                HELD.remove(mine.key, mine);
                return new ReadAccess(null, "the log is open in another process (" + holder + "); its active "
                        + "segments may change while they are read");
            }
            mine.channel = ch;
            mine.lock = l;
            return new ReadAccess(mine, null);
        } catch (IOException | RuntimeException e) {
            if (ch != null) {
                try {
                    ch.close();
                } catch (IOException ignored) {
                    // it held no lock
                }
            }
            HELD.remove(mine.key, mine);
            return new ReadAccess(null, "cannot lock " + mine.file + " (" + e + "); reading without the lock, so a "
                    + "process could open the log meanwhile");
        }
    }

    private static long readPid(FileChannel ch) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(64);
        ch.read(buf, 0);
        String text = new String(buf.array(), 0, buf.position(), StandardCharsets.US_ASCII).trim();
        try {
            return Long.parseLong(text);
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    /** "pid N" if the pid in the lock file is a live process; a shared lock of a tool leaves the last owner's. */
    private static String describeHolder(long pid) {
        if (pid > 0 && ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
            return "pid " + pid;
        }
        return "pid unknown: the lock file names " + (pid > 0 ? "pid " + pid + ", which is not running" : "no pid")
                + ", so perhaps 'sluice log inspect' or 'verify' is reading it";
    }

    public Path file() {
        return file;
    }

    @Override
    public void close() throws IOException {
        try {
            lock.release();
        } finally {
            try {
                channel.close();
            } finally {
                HELD.remove(key, this);
            }
        }
    }
}
