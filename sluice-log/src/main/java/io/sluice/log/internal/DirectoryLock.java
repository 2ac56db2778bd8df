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

/**
 * The lock that makes a log directory one process's: an exclusive OS lock on {@code <dir>/.lock}, which also holds the
 * owner's pid for the error message of the next one to try. The OS drops the lock when the process dies, however it
 * dies, so a crash never leaves a stale lock; the pid left in the file is then simply overwritten.
 *
 * <p>Thread-safe: acquired once by the opening thread, released once on close.
 */
public final class DirectoryLock implements AutoCloseable {
    public static final String FILE_NAME = ".lock";

    private final Path file;
    private final FileChannel channel;
    private final FileLock lock;

    private DirectoryLock(Path file, FileChannel channel, FileLock lock) {
        this.file = file;
        this.channel = channel;
        this.lock = lock;
    }

    /**
     * Takes the lock of {@code dir} or fails at once.
     *
     * @throws LogLockedException naming the directory and the holder's pid if another process (or this one) holds it
     */
    public static DirectoryLock acquire(Path dir) throws IOException {
        Path file = dir.resolve(FILE_NAME);
        FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ,
                StandardOpenOption.WRITE);
        FileLock lock;
        try {
            lock = ch.tryLock();
        } catch (OverlappingFileLockException e) {
            ch.close();
            throw new LogLockedException("Log directory " + dir.toAbsolutePath() + " is already open in this process "
                    + "(pid " + ProcessHandle.current().pid() + "); open it once and share the transport");
        }
        if (lock == null) {
            String holder = readHolder(ch);
            ch.close();
            throw new LogLockedException("Log directory " + dir.toAbsolutePath() + " is in use by another process "
                    + "(pid " + holder + ", lock file " + file.toAbsolutePath() + "); a log directory can be open "
                    + "in one process at a time");
        }
        ch.truncate(0);
        ch.write(ByteBuffer.wrap((ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII)), 0);
        ch.force(true);
        return new DirectoryLock(file, ch, lock);
    }

    /** Takes the lock if it is free, else returns null (tools that only read). */
    public static DirectoryLock tryAcquire(Path dir) throws IOException {
        try {
            return acquire(dir);
        } catch (LogLockedException e) {
            return null;
        }
    }

    /** The pid written in the lock file of {@code dir}, or "unknown". */
    public static String holder(Path dir) {
        try {
            String text = Files.readString(dir.resolve(FILE_NAME), StandardCharsets.US_ASCII).trim();
            return text.isEmpty() ? "unknown" : text;
        } catch (IOException e) {
            return "unknown";
        }
    }

    private static String readHolder(FileChannel ch) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(64);
        ch.read(buf, 0);
        String text = new String(buf.array(), 0, buf.position(), StandardCharsets.US_ASCII).trim();
        return text.isEmpty() ? "unknown" : text;
    }

    public Path file() {
        return file;
    }

    @Override
    public void close() throws IOException {
        try {
            lock.release();
        } finally {
            channel.close();
        }
    }
}
