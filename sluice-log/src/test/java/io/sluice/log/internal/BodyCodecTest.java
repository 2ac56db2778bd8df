package io.sluice.log.internal;

import com.github.luben.zstd.Zstd;
import io.sluice.log.Compression;
import net.jpountz.lz4.LZ4Factory;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Decompression never writes more than the header's raw length: a body that expands further is refused. */
class BodyCodecTest {
    private static final int BOMB = 16 * 1024 * 1024;

    @Test
    void shouldRefuseAnLz4BombLargerThanItsDeclaredLength() {
        byte[] zeros = new byte[BOMB];
        byte[] bomb = LZ4Factory.fastestInstance().fastCompressor().compress(zeros);
        assertThat(bomb.length).isLessThan(100_000);
        byte[] out = new byte[4096];
        assertThatThrownBy(() -> BodyCodec.decompress(Compression.LZ4.id(), bomb, 0, bomb.length, out, 4096))
                .isInstanceOf(MalformedBatchException.class)
                .hasMessageContaining("does not decompress within 4096 bytes");
    }

    @Test
    void shouldRefuseAZstdBombLargerThanItsDeclaredLength() {
        byte[] bomb = Zstd.compress(new byte[BOMB], 3);
        byte[] out = new byte[4096];
        assertThatThrownBy(() -> BodyCodec.decompress(Compression.ZSTD.id(), bomb, 0, bomb.length, out, 4096))
                .isInstanceOf(MalformedBatchException.class)
                .hasMessageContaining("zstd body does not decompress within 4096 bytes");
    }

    @Test
    void shouldRefuseABodyShorterThanDeclared() {
        byte[] small = Zstd.compress(new byte[100], 3);
        assertThatThrownBy(() -> BodyCodec.decompress(Compression.ZSTD.id(), small, 0, small.length, new byte[200],
                200)).isInstanceOf(MalformedBatchException.class).hasMessageContaining("expands to 100 bytes");
    }

    @Test
    void shouldRefuseAHeaderClaimingMoreThanTheFormatLimit() {
        byte[] batch = BatchFormatTest.batch(Compression.LZ4, 3, 0);
        ByteBuffer b = ByteBuffer.wrap(batch);
        b.putInt(BatchFormat.RAW_BODY_LENGTH_OFFSET, BatchFormat.MAX_BODY_BYTES + 1);
        b.putInt(BatchFormat.HEADER_CRC_OFFSET, BatchFormat.crc(b, 0, BatchFormat.HEADER_CRC_OFFSET));
        assertThat(BatchFormat.checkHeader(b, 0)).contains("exceeds the limit");
    }
}
