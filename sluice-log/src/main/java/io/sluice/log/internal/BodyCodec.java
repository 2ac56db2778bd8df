package io.sluice.log.internal;

import com.github.luben.zstd.Zstd;
import com.github.luben.zstd.ZstdException;
import io.sluice.log.Compression;
import net.jpountz.lz4.LZ4Compressor;
import net.jpountz.lz4.LZ4Exception;
import net.jpountz.lz4.LZ4Factory;
import net.jpountz.lz4.LZ4SafeDecompressor;

import java.nio.ByteBuffer;

/**
 * Compresses and decompresses batch bodies. Decompression is bounded: the output buffer is exactly the raw length the
 * (checksummed) header states, which {@link BatchFormat#checkHeader} caps at {@link BatchFormat#MAX_BODY_BYTES}; a
 * body that would expand further, or to anything but exactly that length, is rejected as corrupt. A crafted batch can
 * therefore make a reader allocate at most that cap, never exhaust memory.
 *
 * <p>Stateless apart from the thread-safe codec instances; thread-safe.
 */
public final class BodyCodec {
    private static final int ZSTD_LEVEL = 3;

    private BodyCodec() {
    }

    private static final class Lz4 {
        static final LZ4Factory FACTORY = LZ4Factory.fastestInstance();
        static final LZ4Compressor COMPRESSOR = FACTORY.fastCompressor();
        static final LZ4SafeDecompressor DECOMPRESSOR = FACTORY.safeDecompressor();
    }

    /** The most bytes compressing {@code length} bytes with {@code codec} can produce. */
    public static int maxCompressedLength(Compression codec, int length) {
        return switch (codec) {
            case NONE -> length;
            case LZ4 -> Lz4.COMPRESSOR.maxCompressedLength(length);
            case ZSTD -> (int) Math.min(Integer.MAX_VALUE, Zstd.compressBound(length));
        };
    }

    /**
     * Compresses {@code length} bytes of direct buffer {@code src} at {@code from} into direct buffer {@code dst} at
     * {@code to}, which has room for {@link #maxCompressedLength}.
     *
     * @return the compressed length
     */
    public static int compress(Compression codec, ByteBuffer src, int from, int length, ByteBuffer dst, int to) {
        int room = dst.capacity() - to;
        return switch (codec) {
            case NONE -> throw new IllegalArgumentException("nothing to compress with codec none");
            case LZ4 -> Lz4.COMPRESSOR.compress(src, from, length, dst, to, room);
            case ZSTD -> {
                long n = Zstd.compressDirectByteBuffer(dst, to, room, src, from, length, ZSTD_LEVEL);
                if (Zstd.isError(n)) {
                    throw new IllegalStateException("zstd compression failed: " + Zstd.getErrorName(n));
                }
                yield (int) n;
            }
        };
    }

    /**
     * Decompresses {@code length} bytes of {@code src} at {@code from} into {@code dst} from index 0. {@code dst}
     * holds at least {@code rawLength} bytes; the decompressor is never allowed to write beyond {@code rawLength}.
     *
     * @throws MalformedBatchException if the body is not a valid stream of the codec or does not expand to exactly
     *                                 {@code rawLength} bytes
     */
    public static void decompress(int codecId, byte[] src, int from, int length, byte[] dst, int rawLength) {
        if (codecId == Compression.LZ4.id()) {
            int n;
            try {
                n = Lz4.DECOMPRESSOR.decompress(src, from, length, dst, 0, rawLength);
            } catch (LZ4Exception e) {
                throw new MalformedBatchException("LZ4 body does not decompress within " + rawLength + " bytes: "
                        + e.getMessage());
            }
            if (n != rawLength) {
                throw new MalformedBatchException("LZ4 body expands to " + n + " bytes, header says " + rawLength);
            }
        } else if (codecId == Compression.ZSTD.id()) {
            long n;
            try {
                n = Zstd.decompressByteArray(dst, 0, rawLength, src, from, length);
            } catch (ZstdException e) {
                throw new MalformedBatchException("zstd body does not decompress within " + rawLength + " bytes: "
                        + e.getMessage());
            }
            if (Zstd.isError(n)) {
                throw new MalformedBatchException("zstd body does not decompress within " + rawLength + " bytes: "
                        + Zstd.getErrorName(n));
            }
            if (n != rawLength) {
                throw new MalformedBatchException("zstd body expands to " + n + " bytes, header says " + rawLength);
            }
        } else {
            throw new MalformedBatchException("unknown codec " + codecId);
        }
    }
}
