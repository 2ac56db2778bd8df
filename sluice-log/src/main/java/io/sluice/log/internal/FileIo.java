package io.sluice.log.internal;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * The seam between the log and the file system: every channel the log opens on its data, indexes, recovery points and
 * offset journals, and every directory it creates, forces, renames into or deletes from, goes through one
 * {@code FileIo}. The log uses {@link #DEFAULT}; tests substitute one that watches which bytes each fsync covered and
 * which directories were forced after which files appeared, or fails chosen fsyncs.
 *
 * <p>The directory lock does not go through it: it is not data, and the lock must stay the OS's own.
 *
 * <p>Implementations are thread-safe: writer threads, the offset thread, readers and the opening thread call it
 * concurrently.
 */
public interface FileIo {
    /** The real file system. */
    FileIo DEFAULT = new FileIo() {
        @Override
        public FileChannel open(Path file, OpenOption... options) throws IOException {
            return FileChannel.open(file, options);
        }

        @Override
        public void forceDirectory(Path dir) throws IOException {
            Dirs.fsync(dir);
        }

        @Override
        public void createDirectories(Path dir) throws IOException {
            Files.createDirectories(dir);
        }

        @Override
        public void replace(Path source, Path target) throws IOException {
            Files.move(source, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        }

        @Override
        public boolean deleteIfExists(Path file) throws IOException {
            return Files.deleteIfExists(file);
        }

        @Override
        public String toString() {
            return "FileIo.DEFAULT";
        }
    };

    /** Opens a channel on {@code file}, as {@link FileChannel#open(Path, OpenOption...)}. */
    FileChannel open(Path file, OpenOption... options) throws IOException;

    /** Forces the directory itself, so entries created, renamed or removed in it survive an OS crash. */
    void forceDirectory(Path dir) throws IOException;

    /** Creates {@code dir} and missing parents; their entries are forced only by {@link #forceDirectory}. */
    void createDirectories(Path dir) throws IOException;

    /** Renames {@code source} over {@code target} atomically. */
    void replace(Path source, Path target) throws IOException;

    /** Removes {@code file} if it exists. */
    boolean deleteIfExists(Path file) throws IOException;
}
