package io.sluice.log;

import io.sluice.Message;

import java.nio.charset.StandardCharsets;
import java.util.SplittableRandom;
import java.util.UUID;

/**
 * The records of the crash test, a pure function of their sequence number, which is also their offset (one
 * publishing thread, one partition): so after any crash, every record in the log can be checked byte for byte.
 */
final class CrashWorkload {
    static final String TOPIC = "crash";
    static final long BASE_TIME = 1_767_225_600_000L; // 2026-01-01T00:00:00Z

    private CrashWorkload() {
    }

    static Message record(long seq) {
        SplittableRandom r = new SplittableRandom(seq * 0x9E3779B97F4A7C15L + 17);
        byte[] value = new byte[r.nextInt(seq % 97 == 0 ? 9000 : 400)];
        for (int i = 0; i < value.length; i++) {
            value[i] = (byte) r.nextInt(256);
        }
        Message.Builder b = Message.builder()
                .id(seq % 2 == 0 ? new UUID(seq, ~seq).toString() : "id-" + seq + "-ü")
                .payload(value)
                .timestampMillis(BASE_TIME + seq * 3 - r.nextInt(5))
                .header("seq", Long.toString(seq))
                .header("zeta-" + (seq % 5), "value ✓ " + r.nextInt(1000));
        if (seq % 3 != 0) {
            b.key("key-" + (seq % 11) + "-ключ");
        }
        if (seq % 7 == 0) {
            b.header("binaryish", new String(value, 0, Math.min(16, value.length), StandardCharsets.ISO_8859_1));
        }
        return b.build();
    }
}
