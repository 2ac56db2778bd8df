package io.sluice.log.internal;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** Directory durability: after creating, renaming or deleting a file, its directory entry must be forced too. */
public final class Dirs {
    private Dirs() {
    }

    /** Forces the directory {@code dir} itself, so files created or removed in it stay so after a crash. */
    public static void fsync(Path dir) throws IOException {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        }
    }
}
