package io.sluice;

import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Message ids: UUID version 7 (RFC 9562), so ids sort by creation time and index well in brokers and databases.
 * Thread-safe; allocation is the UUID and its string.
 */
public final class MessageIds {
    private MessageIds() {
    }

    /** A new UUIDv7 as its canonical 36-character string. */
    public static String newId() {
        return newUuid().toString();
    }

    /** A new UUIDv7: 48 bits of Unix milliseconds, version 7, then 74 random bits with the RFC variant. */
    public static UUID newUuid() {
        ThreadLocalRandom random = ThreadLocalRandom.current();
        long millis = System.currentTimeMillis();
        long msb = (millis << 16) | 0x7000L | (random.nextLong() & 0x0FFFL);
        long lsb = (random.nextLong() & 0x3FFF_FFFF_FFFF_FFFFL) | 0x8000_0000_0000_0000L;
        return new UUID(msb, lsb);
    }
}
