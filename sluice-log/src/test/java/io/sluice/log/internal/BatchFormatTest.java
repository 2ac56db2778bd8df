package io.sluice.log.internal;

import io.sluice.Message;
import io.sluice.log.Compression;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/** Every damaged batch is refused by the reader: single bit flips anywhere, and random multi-bit damage. */
class BatchFormatTest {

    /** A finished batch of a few records, as the writer writes it. */
    static byte[] batch(Compression compression, int records, long baseOffset) {
        BatchBuilder b = new BatchBuilder(compression);
        for (int i = 0; i < records; i++) {
            Message m = Message.builder().id(i % 2 == 0 ? "0190f6a1-7c1e-7d2a-9b3c-4d5e6f708192" : "order-" + i)
                    .key(i % 3 == 0 ? null : "customer-" + i).payload(("payload payload payload " + i).repeat(3))
                    .header("trace", "t-" + i).header("content-type", "text/plain")
                    .timestampMillis(1_767_225_600_000L + i).build();
            PendingAppend a = new PendingAppend("t", 0, m);
            if (i == 0) {
                b.start(baseOffset, m.timestampMillis());
            }
            b.add(a, b.sizeOf(a));
        }
        ByteBuffer out = b.finish();
        byte[] bytes = new byte[out.remaining()];
        out.get(bytes);
        return bytes;
    }

    private static BatchScanner scan(byte[] bytes) throws IOException {
        ByteBuffer file = ByteBuffer.wrap(bytes);
        ByteSource source = (dst, pos) -> {
            if (pos >= bytes.length) {
                return -1;
            }
            int n = (int) Math.min(dst.remaining(), bytes.length - pos);
            dst.put(file.slice((int) pos, n));
            return n;
        };
        return new BatchScanner().reset(source, 0, bytes.length, true);
    }

    private static List<Message> decode(byte[] bytes) throws IOException {
        BatchScanner s = scan(bytes);
        List<Message> out = new ArrayList<>();
        BatchDecoder d = new BatchDecoder();
        while (s.next()) {
            d.open(s);
            while (d.hasNext()) {
                out.add(d.next());
            }
        }
        assertThat(s.problem()).isNull();
        return out;
    }

    @ParameterizedTest
    @EnumSource(Compression.class)
    void shouldDecodeWhatTheBuilderWrote(Compression compression) throws IOException {
        byte[] bytes = batch(compression, 12, 1000);
        assertThat(decode(bytes)).hasSize(12)
                .allSatisfy(m -> assertThat(m.headers().get("content-type")).isEqualTo("text/plain"));
        BatchScanner s = scan(bytes);
        assertThat(s.next()).isTrue();
        assertThat(s.baseOffset()).isEqualTo(1000);
        assertThat(s.count()).isEqualTo(12);
        assertThat(s.codec()).isEqualTo(compression.id());
    }

    @ParameterizedTest
    @EnumSource(Compression.class)
    void shouldRefuseEverySingleBitFlipAnywhereInTheBatch(Compression compression) throws IOException {
        byte[] good = batch(compression, 8, 42);
        int bits = good.length * 8;
        int refused = 0;
        for (int bit = 0; bit < bits; bit++) {
            byte[] bad = good.clone();
            bad[bit / 8] ^= (byte) (1 << (bit % 8));
            BatchScanner s = scan(bad);
            assertThat(s.next()).as("batch with bit %d of %d flipped (%s)", bit, bits, compression).isFalse();
            assertThat(s.problem()).isNotNull();
            refused++;
        }
        assertThat(refused).isEqualTo(bits);
    }

    @Test
    void shouldRefuseRandomMultiBitDamage() throws IOException {
        Random random = new Random(7);
        for (Compression compression : Compression.values()) {
            byte[] good = batch(compression, 20, 0);
            for (int trial = 0; trial < 2000; trial++) {
                byte[] bad = good.clone();
                int flips = 2 + random.nextInt(3);
                for (int f = 0; f < flips; f++) {
                    int bit = random.nextInt(bad.length * 8);
                    bad[bit / 8] ^= (byte) (1 << (bit % 8));
                }
                if (java.util.Arrays.equals(bad, good)) {
                    continue; // two flips of the same bit
                }
                assertThat(scan(bad).next()).as("trial %d with %s", trial, compression).isFalse();
            }
        }
    }

    @Test
    void shouldReportATornBatchAsTornAndGarbageAsCorrupt() throws IOException {
        byte[] good = batch(Compression.NONE, 5, 0);
        for (int cut = 1; cut < good.length; cut++) {
            byte[] torn = java.util.Arrays.copyOf(good, cut);
            BatchScanner s = scan(torn);
            assertThat(s.next()).as("batch cut to %d bytes", cut).isFalse();
            assertThat(s.tornTail()).as("cut to %d bytes is torn", cut).isTrue();
        }
        byte[] zeros = new byte[200];
        BatchScanner s = scan(zeros);
        assertThat(s.next()).isFalse();
        assertThat(s.tornTail()).isFalse();
        assertThat(s.problem()).contains("zero bytes");
    }
}
