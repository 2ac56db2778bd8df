package io.sluice.log.internal;

import io.sluice.log.Compression;

import java.nio.ByteBuffer;

/**
 * Encodes records into one batch in a direct buffer, then compresses the body (when that makes it smaller) and writes
 * the header with both checksums. Records are encoded straight into the buffer the file channel writes from, so a
 * record's bytes are copied once between the message and the page cache (twice when compressed).
 *
 * <p>Not thread-safe: owned by one partition's writer thread; buffers are reused from batch to batch.
 */
final class BatchBuilder {
    /**
     * A batch is closed once its body reaches this size; a bigger single record gets a batch of its own. Small enough
     * that the buffer stays in a core's L2 cache while it is encoded, checksummed and written (three passes over the
     * same bytes), large enough that the per-batch costs (header, syscall, index entry) vanish.
     */
    static final int TARGET_BODY_BYTES = 256 * 1024;

    private final Compression compression;
    private ByteBuffer buf;
    private ByteBuffer compressed;
    private long baseOffset;
    private long firstTimestamp;
    private long maxTimestamp;
    private int count;

    BatchBuilder(Compression compression) {
        this.compression = compression;
        this.buf = ByteBuffer.allocateDirect(BatchFormat.HEADER_SIZE + 64 * 1024);
    }

    /** Starts an empty batch whose first record has {@code firstTimestamp}. */
    void start(long baseOffset, long firstTimestamp) {
        this.baseOffset = baseOffset;
        this.firstTimestamp = firstTimestamp;
        this.maxTimestamp = firstTimestamp;
        this.count = 0;
        buf.clear().position(BatchFormat.HEADER_SIZE);
    }

    int count() {
        return count;
    }

    long baseOffset() {
        return baseOffset;
    }

    long nextOffset() {
        return baseOffset + count;
    }

    long maxTimestamp() {
        return maxTimestamp;
    }

    /** The encoded size of {@code a} in this batch. */
    int sizeOf(PendingAppend a) {
        return RecordCodec.encodedSize(a.sizeAfterTimestamp, a.message.timestampMillis() - firstTimestamp);
    }

    /** True if a record of {@code size} bytes may join the batch. */
    boolean fits(int size) {
        return count == 0 || buf.position() - BatchFormat.HEADER_SIZE + size <= TARGET_BODY_BYTES;
    }

    /** Encodes {@code a} as the next record; {@code size} is {@link #sizeOf(PendingAppend)}. */
    void add(PendingAppend a, int size) {
        if (buf.remaining() < size) {
            grow(buf.position() + size);
        }
        RecordCodec.encode(buf, a.message, firstTimestamp, a.sizeAfterTimestamp, a.uuidId, a.idHigh, a.idLow);
        long ts = a.message.timestampMillis();
        if (ts > maxTimestamp) {
            maxTimestamp = ts;
        }
        count++;
    }

    /** Completes the batch; the returned buffer holds it from position to limit. */
    ByteBuffer finish() {
        int rawLength = buf.position() - BatchFormat.HEADER_SIZE;
        if (compression != Compression.NONE) {
            int bound = BatchFormat.HEADER_SIZE + BodyCodec.maxCompressedLength(compression, rawLength);
            if (compressed == null || compressed.capacity() < bound) {
                compressed = ByteBuffer.allocateDirect(Math.max(bound, buf.capacity()));
            }
            compressed.clear(); // the codecs check offsets against the limit the previous batch left
            int n = BodyCodec.compress(compression, buf, BatchFormat.HEADER_SIZE, rawLength, compressed,
                    BatchFormat.HEADER_SIZE);
            if (n < rawLength) {
                BatchFormat.writeHeader(compressed, 0, n, baseOffset, count, firstTimestamp, maxTimestamp,
                        compression.id(), rawLength);
                return compressed.clear().limit(BatchFormat.HEADER_SIZE + n);
            }
        }
        BatchFormat.writeHeader(buf, 0, rawLength, baseOffset, count, firstTimestamp, maxTimestamp, 0, rawLength);
        return buf.flip();
    }

    private void grow(int needed) {
        ByteBuffer bigger = ByteBuffer.allocateDirect(Math.max(needed, buf.capacity() * 2));
        buf.flip();
        bigger.put(buf);
        buf = bigger;
    }
}
