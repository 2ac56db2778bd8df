package io.sluice.log.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * A partition's recovery point ({@code <partition>/recovery-point}): the base offset of the first segment that is not
 * known to be sealed and forced to disk. Every segment below it was forced completely before the point moved past it,
 * so on open those are trusted (damage there is corruption, reported and never cut), while the segments from the
 * point on are checked batch by batch and cut at the first bad one.
 *
 * <pre>
 *  int64  recovery point (a segment base offset)
 *  int32  magic 0x534C5250 ("SLRP")
 *  int32  CRC32C of the 12 bytes above
 * </pre>
 *
 * Replaced atomically (write, force, rename, force the directory). A missing or damaged file means "nothing is known
 * forced": every segment is checked. Stateless; callers serialize writes per partition.
 */
public final class RecoveryPoint {
    public static final String FILE_NAME = "recovery-point";
    private static final int MAGIC = 0x534C5250;

    private RecoveryPoint() {
    }

    /** The recovery point stored in {@code dir}, or -1 if there is none or it is damaged. */
    public static long read(Path dir) {
        Path file = dir.resolve(FILE_NAME);
        try {
            if (!Files.exists(file)) {
                return -1;
            }
            byte[] b = Files.readAllBytes(file);
            if (b.length != 16) {
                return -1;
            }
            ByteBuffer buf = ByteBuffer.wrap(b);
            if (buf.getInt(8) != MAGIC || buf.getInt(12) != BatchFormat.crc(b, 0, 12)) {
                return -1;
            }
            return buf.getLong(0);
        } catch (IOException e) {
            return -1;
        }
    }

    /** Stores {@code offset} as the recovery point of the partition in {@code dir}, durably. */
    static void write(Path dir, long offset) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(16);
        buf.putLong(0, offset).putInt(8, MAGIC);
        buf.putInt(12, BatchFormat.crc(buf.array(), 0, 12));
        Path tmp = dir.resolve(FILE_NAME + ".tmp");
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            while (buf.hasRemaining()) {
                ch.write(buf);
            }
            ch.force(true);
        }
        Files.move(tmp, dir.resolve(FILE_NAME), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        Dirs.fsync(dir);
    }
}
