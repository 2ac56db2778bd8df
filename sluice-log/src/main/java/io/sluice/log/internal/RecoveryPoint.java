package io.sluice.log.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A partition's recovery point: the base offset of the first segment that is not known to be sealed and forced to
 * disk. Every segment below it was forced completely before the point moved past it, so on open those are trusted
 * (damage there is corruption, reported and never cut), while the segments from the point on are checked batch by
 * batch and cut at the first bad one.
 *
 * <pre>
 *  int64  recovery point (a segment base offset)
 *  int32  magic 0x534C5250 ("SLRP")
 *  int32  CRC32C of the 12 bytes above
 * </pre>
 *
 * Stored twice, in {@code recovery-point} and {@code recovery-point.2}, each replaced atomically (write, force,
 * rename, force the directory) one after the other, so damage to one file never loses the point. The point only
 * grows, so when both copies are sound the larger one is the newer. When neither is sound the partition treats every
 * segment but the last as sealed (see {@code PartitionLog.open}): losing this file must never let recovery cut data
 * that was forced and acknowledged.
 *
 * <p>Stateless; callers serialize writes per partition.
 */
public final class RecoveryPoint {
    public static final String FILE_NAME = "recovery-point";
    public static final String COPY_NAME = "recovery-point.2";
    private static final int MAGIC = 0x534C5250;

    private RecoveryPoint() {
    }

    /**
     * What the two copies hold.
     *
     * @param offset the recovery point, or -1 if neither copy is sound
     * @param sound  how many copies are sound (0, 1 or 2)
     */
    public record Stored(long offset, int sound) {
        /** True if no copy could be read. */
        public boolean lost() {
            return offset < 0;
        }
    }

    /** The recovery point stored in {@code dir}, or -1 if neither copy is there and sound. */
    public static long read(Path dir) {
        return readBoth(dir).offset();
    }

    /** Both copies of the point in {@code dir}. */
    public static Stored readBoth(Path dir) {
        long a = readOne(dir.resolve(FILE_NAME));
        long b = readOne(dir.resolve(COPY_NAME));
        return new Stored(Math.max(a, b), (a >= 0 ? 1 : 0) + (b >= 0 ? 1 : 0));
    }

    private static long readOne(Path file) {
        try {
            if (!Files.exists(file)) {
                return -1;
            }
            byte[] b = Files.readAllBytes(file);
            if (b.length != 16) {
                return -1;
            }
            ByteBuffer buf = ByteBuffer.wrap(b);
            if (buf.getInt(8) != MAGIC || buf.getInt(12) != BatchFormat.crc(b, 0, 12) || buf.getLong(0) < 0) {
                return -1;
            }
            return buf.getLong(0);
        } catch (IOException e) {
            return -1;
        }
    }

    /** Stores {@code offset} as the recovery point of the partition in {@code dir}, durably, in both copies. */
    static void write(Path dir, long offset, FileIo io) throws IOException {
        writeOne(dir, FILE_NAME, offset, io);
        writeOne(dir, COPY_NAME, offset, io);
    }

    private static void writeOne(Path dir, String name, long offset, FileIo io) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(16);
        buf.putLong(0, offset).putInt(8, MAGIC);
        buf.putInt(12, BatchFormat.crc(buf.array(), 0, 12));
        Path tmp = dir.resolve(name + ".tmp");
        try (FileChannel ch = io.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            while (buf.hasRemaining()) {
                ch.write(buf);
            }
            ch.force(true);
        }
        io.replace(tmp, dir.resolve(name));
        io.forceDirectory(dir);
    }
}
