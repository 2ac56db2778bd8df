package io.sluice.log.internal;

import io.sluice.Headers;
import io.sluice.Message;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Random;
import java.util.UUID;

import static org.assertj.core.api.Assertions.assertThat;

/** Records encode to exactly the size computed beforehand and decode to the same message. */
class RecordCodecTest {

    private static Message roundTrip(Message m, long firstTimestamp) {
        int after = RecordCodec.sizeAfterTimestamp(m);
        int size = RecordCodec.encodedSize(after, m.timestampMillis() - firstTimestamp);
        ByteBuffer buf = ByteBuffer.allocate(size + 16);
        RecordCodec.encode(buf, m, firstTimestamp, after);
        assertThat(buf.position()).as("encoded size of %s", m).isEqualTo(size);
        RecordCodec.Reader r = new RecordCodec.Reader();
        r.reset(buf.array(), 0, size, firstTimestamp);
        Message back = r.next();
        assertThat(r.remaining()).isZero();
        return back;
    }

    @Test
    void shouldStoreCanonicalUuidIdsInSixteenBytesAndKeepOtherIdsAsText() {
        String uuid = UUID.randomUUID().toString();
        Message a = Message.builder().id(uuid).payload("x").timestampMillis(5).build();
        Message b = Message.builder().id(uuid.toUpperCase()).payload("x").timestampMillis(5).build();
        assertThat(RecordCodec.sizeAfterTimestamp(a)).isLessThan(RecordCodec.sizeAfterTimestamp(b));
        assertThat(roundTrip(a, 5).id()).isEqualTo(uuid);
        assertThat(roundTrip(b, 5).id()).isEqualTo(uuid.toUpperCase());
    }

    @Test
    void shouldRoundTripRandomMessagesExactly() {
        Random random = new Random(11);
        for (int i = 0; i < 5000; i++) {
            Message.Builder b = Message.builder().timestampMillis(random.nextLong() >>> 1);
            if (random.nextBoolean()) {
                b.id(randomString(random, 40));
            } else if (random.nextBoolean()) {
                b.id(new UUID(random.nextLong(), random.nextLong()).toString());
            }
            if (random.nextBoolean()) {
                b.key(randomString(random, 30));
            }
            byte[] payload = new byte[random.nextInt(300)];
            random.nextBytes(payload);
            b.payload(payload);
            Headers.Builder h = Headers.builder();
            for (int k = random.nextInt(5); k > 0; k--) {
                h.set(randomString(random, 10) + k, randomString(random, 20));
            }
            b.headers(h.build());
            Message m = b.build();
            long first = m.timestampMillis() - random.nextInt(100_000) + 50_000;
            Message back = roundTrip(m, first);
            // Strings round-trip as their UTF-8 bytes do (unpaired surrogates become '?', as with getBytes).
            assertThat(back).isEqualTo(normalized(m));
        }
    }

    private static Message normalized(Message m) {
        Headers.Builder h = Headers.builder();
        m.headers().forEach((k, v) -> h.set(utf8(k), utf8(v)));
        return m.toBuilder().id(m.id() == null ? null : utf8(m.id())).key(m.key() == null ? null : utf8(m.key()))
                .headers(h.build()).build();
    }

    private static String utf8(String s) {
        return new String(s.getBytes(StandardCharsets.UTF_8), StandardCharsets.UTF_8);
    }

    private static String randomString(Random random, int max) {
        StringBuilder s = new StringBuilder();
        int n = random.nextInt(max);
        for (int i = 0; i < n; i++) {
            switch (random.nextInt(6)) {
                case 0 -> s.append((char) ('a' + random.nextInt(26)));
                case 1 -> s.append((char) (0x80 + random.nextInt(0x780)));
                case 2 -> s.append((char) (0x800 + random.nextInt(0xD000)));
                case 3 -> s.appendCodePoint(0x10000 + random.nextInt(0x10000));
                case 4 -> s.append((char) (0xD800 + random.nextInt(0x800))); // a lone surrogate
                default -> s.append(' ');
            }
        }
        return s.toString();
    }
}
