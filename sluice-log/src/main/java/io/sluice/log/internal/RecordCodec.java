package io.sluice.log.internal;

import io.sluice.Headers;
import io.sluice.Message;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.UUID;

/**
 * One record inside a batch body. Offsets are not stored: the records of a batch have the dense offsets
 * {@code base .. base+count-1} in body order.
 *
 * <pre>
 *  varint   length of the rest of the record
 *  varlong  timestamp - batch first timestamp (zig-zag)
 *  byte     id kind: 0 none, 1 canonical UUID (16 bytes follow), 2 text (varint length + UTF-8 follow)
 *  varint   key length + 1 (0: no key), then the key in UTF-8
 *  varint   value length, then the value bytes
 *  varint   header count, then per header in order: varint name length, name UTF-8, varint value length, value UTF-8
 * </pre>
 *
 * An id is stored as 16 bytes only when it is exactly the lower-case canonical form a UUID prints, so it reads back
 * as the same string; anything else is stored as text. Strings are encoded as {@link String#getBytes} would with
 * UTF-8, unpaired surrogates included, so encoding and the size computed beforehand always agree.
 *
 * <p>Stateless; thread-safe.
 */
public final class RecordCodec {
    static final int ID_NONE = 0;
    static final int ID_UUID = 1;
    static final int ID_TEXT = 2;

    private RecordCodec() {
    }

    /** Bytes of the record after its timestamp: id, key, value and headers. */
    public static int sizeAfterTimestamp(Message m) {
        String id = m.id();
        return sizeAfterTimestamp(m, id != null && isCanonicalUuid(id));
    }

    /** {@link #sizeAfterTimestamp(Message)} when it is known whether the id is a canonical UUID. */
    static int sizeAfterTimestamp(Message m, boolean uuidId) {
        int size = 1 + (uuidId ? 16 : idSize(m.id()));
        String key = m.key();
        if (key == null) {
            size += 1;
        } else {
            int k = utf8Length(key);
            size += varintSize(k + 1) + k;
        }
        int v = m.payload().length;
        size += varintSize(v) + v;
        Headers headers = m.headers();
        int n = headers.size();
        size += varintSize(n);
        for (int i = 0; i < n; i++) {
            int name = utf8Length(headers.name(i));
            int value = utf8Length(headers.value(i));
            size += varintSize(name) + name + varintSize(value) + value;
        }
        return size;
    }

    /** The whole encoded size of a record, length prefix included, given its timestamp delta. */
    public static int encodedSize(int sizeAfterTimestamp, long timestampDelta) {
        int rest = varlongSize(zigzag(timestampDelta)) + sizeAfterTimestamp;
        return varintSize(rest) + rest;
    }

    private static int idSize(String id) {
        if (id == null) {
            return 0;
        }
        int n = utf8Length(id);
        return varintSize(n) + n;
    }

    /**
     * Writes one record at the buffer's position.
     *
     * @param sizeAfterTimestamp {@link #sizeAfterTimestamp(Message)} of {@code m}
     */
    public static void encode(ByteBuffer buf, Message m, long firstTimestamp, int sizeAfterTimestamp) {
        String id = m.id();
        if (id != null && isCanonicalUuid(id)) {
            encode(buf, m, firstTimestamp, sizeAfterTimestamp, true, uuidHigh(id), uuidLow(id));
        } else {
            encode(buf, m, firstTimestamp, sizeAfterTimestamp, false, 0, 0);
        }
    }

    /** Writes one record whose id, if {@code uuidId}, was parsed already into {@code idHigh} and {@code idLow}. */
    static void encode(ByteBuffer buf, Message m, long firstTimestamp, int sizeAfterTimestamp, boolean uuidId,
                       long idHigh, long idLow) {
        long ts = zigzag(m.timestampMillis() - firstTimestamp);
        putVarint(buf, varlongSize(ts) + sizeAfterTimestamp);
        putVarlong(buf, ts);
        String id = m.id();
        if (id == null) {
            buf.put((byte) ID_NONE);
        } else if (uuidId) {
            buf.put((byte) ID_UUID);
            buf.putLong(idHigh);
            buf.putLong(idLow);
        } else {
            buf.put((byte) ID_TEXT);
            putVarint(buf, utf8Length(id));
            putUtf8(buf, id);
        }
        String key = m.key();
        if (key == null) {
            putVarint(buf, 0);
        } else {
            putVarint(buf, utf8Length(key) + 1);
            putUtf8(buf, key);
        }
        byte[] payload = m.payload();
        putVarint(buf, payload.length);
        buf.put(payload);
        Headers headers = m.headers();
        int n = headers.size();
        putVarint(buf, n);
        for (int i = 0; i < n; i++) {
            String name = headers.name(i);
            putVarint(buf, utf8Length(name));
            putUtf8(buf, name);
            String value = headers.value(i);
            putVarint(buf, utf8Length(value));
            putUtf8(buf, value);
        }
    }

    /**
     * Reads records one after another from a decoded (uncompressed) body. Not thread-safe: one per reading thread,
     * reused across batches.
     */
    public static final class Reader {
        private byte[] b;
        private int pos;
        private int end;
        private long firstTimestamp;

        /** Starts reading a body of {@code length} bytes at {@code from} in {@code body}. */
        public void reset(byte[] body, int from, int length, long firstTimestamp) {
            this.b = body;
            this.pos = from;
            this.end = from + length;
            this.firstTimestamp = firstTimestamp;
        }

        /** Bytes left unread in the body. */
        public int remaining() {
            return end - pos;
        }

        /** Skips one record. */
        public void skip() {
            int length = varint(end);
            if (length < 0 || length > end - pos) {
                throw new MalformedBatchException("record length " + length + " runs past the body");
            }
            pos += length;
        }

        /** Decodes the next record. */
        public Message next() {
            int length = varint(end);
            if (length < 0 || length > end - pos) {
                throw new MalformedBatchException("record length " + length + " runs past the body");
            }
            int recordEnd = pos + length;
            long timestamp = firstTimestamp + unzigzag(varlong(recordEnd));
            Message.Builder builder = Message.builder().timestampMillis(timestamp);
            int idKind = byteAt(recordEnd);
            switch (idKind) {
                case ID_NONE -> {
                }
                case ID_UUID -> {
                    need(16, recordEnd);
                    long msb = longAt(pos);
                    long lsb = longAt(pos + 8);
                    pos += 16;
                    builder.id(new UUID(msb, lsb).toString());
                }
                case ID_TEXT -> builder.id(string(varint(recordEnd), recordEnd));
                default -> throw new MalformedBatchException("unknown id kind " + idKind);
            }
            int keyLength = varint(recordEnd);
            if (keyLength > 0) {
                builder.key(string(keyLength - 1, recordEnd));
            } else if (keyLength < 0) {
                throw new MalformedBatchException("negative key length");
            }
            int valueLength = varint(recordEnd);
            need(valueLength, recordEnd);
            byte[] value = new byte[valueLength];
            System.arraycopy(b, pos, value, 0, valueLength);
            pos += valueLength;
            builder.payload(value);
            int headerCount = varint(recordEnd);
            if (headerCount < 0 || headerCount > length) {
                throw new MalformedBatchException("header count " + headerCount + " out of range");
            }
            if (headerCount > 0) {
                Headers.Builder headers = Headers.builder();
                for (int i = 0; i < headerCount; i++) {
                    String name = string(varint(recordEnd), recordEnd);
                    String value1 = string(varint(recordEnd), recordEnd);
                    headers.set(name, value1);
                }
                builder.headers(headers.build());
            }
            if (pos != recordEnd) {
                throw new MalformedBatchException("record has " + (recordEnd - pos) + " unread bytes");
            }
            return builder.build();
        }

        private long longAt(int at) {
            long v = 0;
            for (int i = 0; i < 8; i++) {
                v = v << 8 | (b[at + i] & 0xffL);
            }
            return v;
        }

        private void need(int n, int limit) {
            if (n < 0 || n > limit - pos) {
                throw new MalformedBatchException("field of " + n + " bytes runs past its record");
            }
        }

        private int byteAt(int limit) {
            need(1, limit);
            return b[pos++] & 0xff;
        }

        private String string(int length, int limit) {
            need(length, limit);
            String s = new String(b, pos, length, StandardCharsets.UTF_8);
            pos += length;
            return s;
        }

        private int varint(int limit) {
            int value = 0;
            for (int shift = 0; shift < 35; shift += 7) {
                int x = byteAt(limit);
                value |= (x & 0x7f) << shift;
                if ((x & 0x80) == 0) {
                    return value;
                }
            }
            throw new MalformedBatchException("varint longer than 5 bytes");
        }

        private long varlong(int limit) {
            long value = 0;
            for (int shift = 0; shift < 70; shift += 7) {
                long x = byteAt(limit);
                value |= (x & 0x7f) << shift;
                if ((x & 0x80) == 0) {
                    return value;
                }
            }
            throw new MalformedBatchException("varlong longer than 10 bytes");
        }
    }

    // ---------------------------------------------------------------- primitives

    /** Lower-case hex digit values; -1 for anything else (upper case too, so the text round-trips exactly). */
    private static final byte[] HEX = new byte[128];

    static {
        java.util.Arrays.fill(HEX, (byte) -1);
        for (int i = 0; i < 10; i++) {
            HEX['0' + i] = (byte) i;
        }
        for (int i = 0; i < 6; i++) {
            HEX['a' + i] = (byte) (10 + i);
        }
    }

    static boolean isCanonicalUuid(String s) {
        if (s.length() != 36 || s.charAt(8) != '-' || s.charAt(13) != '-' || s.charAt(18) != '-'
                || s.charAt(23) != '-') {
            return false;
        }
        return (hex(s, 0, 8) | hex(s, 9, 13) | hex(s, 14, 18) | hex(s, 19, 23) | hex(s, 24, 36)) >= 0;
    }

    /** The first 64 bits of a canonical UUID string. */
    static long uuidHigh(String s) {
        return hex(s, 0, 8) << 32 | hex(s, 9, 13) << 16 | hex(s, 14, 18);
    }

    /** The last 64 bits of a canonical UUID string. */
    static long uuidLow(String s) {
        return hex(s, 19, 23) << 48 | hex(s, 24, 36);
    }

    /** The value of hex digits {@code from..to} (at most 15 of them), or a negative number if one is not a digit. */
    private static long hex(String s, int from, int to) {
        long v = 0;
        for (int i = from; i < to; i++) {
            char c = s.charAt(i);
            int d = c < 128 ? HEX[c] : -1;
            if (d < 0) {
                return -1;
            }
            v = v << 4 | d;
        }
        return v;
    }

    static int utf8Length(String s) {
        int n = s.length();
        int bytes = n;
        for (int i = 0; i < n; i++) {
            char c = s.charAt(i);
            if (c >= 0x80) {
                if (c < 0x800) {
                    bytes += 1;
                } else if (Character.isHighSurrogate(c) && i + 1 < n && Character.isLowSurrogate(s.charAt(i + 1))) {
                    bytes += 2; // 4 bytes for 2 chars
                    i++;
                } else if (!Character.isSurrogate(c)) {
                    bytes += 2;
                }
                // an unpaired surrogate becomes '?', one byte, as String.getBytes does
            }
        }
        return bytes;
    }

    static void putUtf8(ByteBuffer buf, String s) {
        int n = s.length();
        for (int i = 0; i < n; i++) {
            char c = s.charAt(i);
            if (c < 0x80) {
                buf.put((byte) c);
            } else if (c < 0x800) {
                buf.put((byte) (0xc0 | c >> 6));
                buf.put((byte) (0x80 | (c & 0x3f)));
            } else if (Character.isHighSurrogate(c) && i + 1 < n && Character.isLowSurrogate(s.charAt(i + 1))) {
                int cp = Character.toCodePoint(c, s.charAt(++i));
                buf.put((byte) (0xf0 | cp >> 18));
                buf.put((byte) (0x80 | (cp >> 12 & 0x3f)));
                buf.put((byte) (0x80 | (cp >> 6 & 0x3f)));
                buf.put((byte) (0x80 | (cp & 0x3f)));
            } else if (Character.isSurrogate(c)) {
                buf.put((byte) '?');
            } else {
                buf.put((byte) (0xe0 | c >> 12));
                buf.put((byte) (0x80 | (c >> 6 & 0x3f)));
                buf.put((byte) (0x80 | (c & 0x3f)));
            }
        }
    }

    static int varintSize(int value) {
        int v = value;
        int size = 1;
        while ((v & ~0x7f) != 0) {
            size++;
            v >>>= 7;
        }
        return size;
    }

    static int varlongSize(long value) {
        long v = value;
        int size = 1;
        while ((v & ~0x7fL) != 0) {
            size++;
            v >>>= 7;
        }
        return size;
    }

    static void putVarint(ByteBuffer buf, int value) {
        int v = value;
        while ((v & ~0x7f) != 0) {
            buf.put((byte) ((v & 0x7f) | 0x80));
            v >>>= 7;
        }
        buf.put((byte) v);
    }

    static void putVarlong(ByteBuffer buf, long value) {
        long v = value;
        while ((v & ~0x7fL) != 0) {
            buf.put((byte) ((v & 0x7f) | 0x80));
            v >>>= 7;
        }
        buf.put((byte) v);
    }

    static long zigzag(long v) {
        return (v << 1) ^ (v >> 63);
    }

    static long unzigzag(long v) {
        return (v >>> 1) ^ -(v & 1);
    }
}
