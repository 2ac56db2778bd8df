package io.sluice.log.internal;

import java.nio.ByteBuffer;
import java.util.zip.CRC32C;

/**
 * The record batch, the unit the log writes, checksums, compresses and indexes. A segment's {@code .log} file is a
 * sequence of batches and nothing else. All integers are big-endian.
 *
 * <pre>
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +---------------------------------------------------------------+
 *  |  'S'  |  'L'  |  'G'  |version|  magic: 0x534C47 + format 1   |  0
 *  +---------------------------------------------------------------+
 *  |                  batch length (header + body)                 |  4
 *  +---------------------------------------------------------------+
 *  |                                                               |  8
 *  +                 base offset (first record)                    +
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |             record count (offsets base .. base+count-1)       | 16
 *  +---------------------------------------------------------------+
 *  |                                                               | 20
 *  +              first timestamp (ms since the epoch)             +
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                                                               | 28
 *  +              max timestamp (ms since the epoch)               +
 *  |                                                               |
 *  +-------------------------------+-------------------------------+
 *  |  attributes (bits 0-1: codec) |                               | 36
 *  +-------------------------------+                               +
 *  |                raw (uncompressed) body length                 | 38
 *  +                               +-------------------------------+
 *  |                               |                               |
 *  +-------------------------------+                               + 42
 *  |            body CRC32C (over the body bytes as stored)        |
 *  +                               +-------------------------------+
 *  |                               |                               |
 *  +-------------------------------+                               + 46
 *  |          header CRC32C (over header bytes 0 .. 45)            |
 *  +                               +-------------------------------+
 *  |                               |  body: records, compressed   ...  50
 *  +-------------------------------+  as a whole when codec != 0   |
 * ...                                                              |
 *  +---------------------------------------------------------------+
 * </pre>
 *
 * <p>Why two checksums. Together they cover every byte of the batch. The header CRC covers a fixed span, so a
 * flipped bit in the length can never make the reader checksum the wrong span of body bytes; the body CRC is itself
 * covered by the header CRC. CRC32C detects every single-bit (indeed every odd-count) error in a span, so any single
 * flipped bit anywhere in a batch fails one of the two checks and the batch is never returned as data.
 *
 * <p>The body is {@code record count} records, each encoded by {@link RecordCodec}. With a codec the whole body is
 * compressed once; {@code raw body length} bounds the decompressor's output (see {@link BodyCodec}).
 *
 * <p>Stateless; thread-safe.
 */
public final class BatchFormat {
    /** "SLG" and format version 1. */
    public static final int MAGIC = 0x534C4701;
    public static final int LENGTH_OFFSET = 4;
    public static final int BASE_OFFSET_OFFSET = 8;
    public static final int COUNT_OFFSET = 16;
    public static final int FIRST_TIMESTAMP_OFFSET = 20;
    public static final int MAX_TIMESTAMP_OFFSET = 28;
    public static final int ATTRIBUTES_OFFSET = 36;
    public static final int RAW_BODY_LENGTH_OFFSET = 38;
    public static final int BODY_CRC_OFFSET = 42;
    public static final int HEADER_CRC_OFFSET = 46;
    public static final int HEADER_SIZE = 50;

    /** Bits of the attributes a reader of this format understands. */
    public static final int CODEC_MASK = 0x3;

    /**
     * The largest body a batch may hold, compressed or not: the bound on any buffer a reader allocates for one batch,
     * whatever a damaged or hostile file claims.
     */
    public static final int MAX_BODY_BYTES = 64 * 1024 * 1024;

    /** The smallest encoded record: length, timestamp, id kind, key, value and header count. */
    public static final int MIN_RECORD_BYTES = 6;

    private BatchFormat() {
    }

    /** CRC32C of {@code length} bytes of {@code buf} from absolute index {@code from}; leaves the buffer unchanged. */
    public static int crc(ByteBuffer buf, int from, int length) {
        CRC32C crc = new CRC32C();
        ByteBuffer view = buf.duplicate();
        view.limit(from + length).position(from);
        crc.update(view);
        return (int) crc.getValue();
    }

    /** CRC32C of a byte range of an array. */
    public static int crc(byte[] bytes, int from, int length) {
        CRC32C crc = new CRC32C();
        crc.update(bytes, from, length);
        return (int) crc.getValue();
    }

    /**
     * Checks the fixed header at {@code at} in {@code buf} (at least {@link #HEADER_SIZE} bytes available): magic,
     * header CRC, and that the fields are plausible.
     *
     * @return null if the header is sound, else what is wrong with it
     */
    public static String checkHeader(ByteBuffer buf, int at) {
        int magic = buf.getInt(at);
        if (magic != MAGIC) {
            if (magic == 0) {
                return "zero bytes where a batch header should start (preallocated or never written)";
            }
            return String.format("bad magic 0x%08x (expected 0x%08x)", magic, MAGIC);
        }
        int stored = buf.getInt(at + HEADER_CRC_OFFSET);
        int actual = crc(buf, at, HEADER_CRC_OFFSET);
        if (stored != actual) {
            return String.format("header CRC mismatch (stored 0x%08x, computed 0x%08x)", stored, actual);
        }
        int length = buf.getInt(at + LENGTH_OFFSET);
        int bodyLength = length - HEADER_SIZE;
        int count = buf.getInt(at + COUNT_OFFSET);
        int rawBody = buf.getInt(at + RAW_BODY_LENGTH_OFFSET);
        int attributes = buf.getShort(at + ATTRIBUTES_OFFSET);
        long base = buf.getLong(at + BASE_OFFSET_OFFSET);
        if (bodyLength < 0 || bodyLength > MAX_BODY_BYTES) {
            return "batch length " + length + " out of range";
        }
        if (count <= 0 || (long) count * MIN_RECORD_BYTES > rawBody) {
            return "record count " + count + " does not fit a body of " + rawBody + " bytes";
        }
        if (rawBody > MAX_BODY_BYTES) {
            return "raw body length " + rawBody + " exceeds the limit of " + MAX_BODY_BYTES;
        }
        if ((attributes & ~CODEC_MASK) != 0 || (attributes & CODEC_MASK) == 3) {
            return String.format("unknown attributes 0x%04x", attributes);
        }
        if ((attributes & CODEC_MASK) == 0 && rawBody != bodyLength) {
            return "uncompressed batch with raw length " + rawBody + " but body length " + bodyLength;
        }
        if (base < 0 || base + count < 0) {
            return "base offset " + base + " out of range";
        }
        if (buf.getLong(at + MAX_TIMESTAMP_OFFSET) < buf.getLong(at + FIRST_TIMESTAMP_OFFSET)) {
            return "max timestamp before first timestamp";
        }
        return null;
    }

    /** Checks the body CRC of the batch at {@code at}, whose header is sound and whose body is in {@code buf}. */
    public static String checkBody(ByteBuffer buf, int at) {
        int length = buf.getInt(at + LENGTH_OFFSET);
        int stored = buf.getInt(at + BODY_CRC_OFFSET);
        int actual = crc(buf, at + HEADER_SIZE, length - HEADER_SIZE);
        if (stored != actual) {
            return String.format("body CRC mismatch (stored 0x%08x, computed 0x%08x)", stored, actual);
        }
        return null;
    }

    public static int length(ByteBuffer buf, int at) {
        return buf.getInt(at + LENGTH_OFFSET);
    }

    public static long baseOffset(ByteBuffer buf, int at) {
        return buf.getLong(at + BASE_OFFSET_OFFSET);
    }

    public static int count(ByteBuffer buf, int at) {
        return buf.getInt(at + COUNT_OFFSET);
    }

    public static long firstTimestamp(ByteBuffer buf, int at) {
        return buf.getLong(at + FIRST_TIMESTAMP_OFFSET);
    }

    public static long maxTimestamp(ByteBuffer buf, int at) {
        return buf.getLong(at + MAX_TIMESTAMP_OFFSET);
    }

    public static int codec(ByteBuffer buf, int at) {
        return buf.getShort(at + ATTRIBUTES_OFFSET) & CODEC_MASK;
    }

    public static int rawBodyLength(ByteBuffer buf, int at) {
        return buf.getInt(at + RAW_BODY_LENGTH_OFFSET);
    }

    /**
     * Writes the header of a batch whose body (as stored) is already at {@code at + HEADER_SIZE}, computing both
     * checksums.
     */
    public static void writeHeader(ByteBuffer buf, int at, int bodyLength, long baseOffset, int count,
                                   long firstTimestamp, long maxTimestamp, int codec, int rawBodyLength) {
        buf.putInt(at, MAGIC);
        buf.putInt(at + LENGTH_OFFSET, HEADER_SIZE + bodyLength);
        buf.putLong(at + BASE_OFFSET_OFFSET, baseOffset);
        buf.putInt(at + COUNT_OFFSET, count);
        buf.putLong(at + FIRST_TIMESTAMP_OFFSET, firstTimestamp);
        buf.putLong(at + MAX_TIMESTAMP_OFFSET, maxTimestamp);
        buf.putShort(at + ATTRIBUTES_OFFSET, (short) codec);
        buf.putInt(at + RAW_BODY_LENGTH_OFFSET, rawBodyLength);
        buf.putInt(at + BODY_CRC_OFFSET, crc(buf, at + HEADER_SIZE, bodyLength));
        buf.putInt(at + HEADER_CRC_OFFSET, crc(buf, at, HEADER_CRC_OFFSET));
    }
}
