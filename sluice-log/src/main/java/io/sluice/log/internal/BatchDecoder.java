package io.sluice.log.internal;

import io.sluice.Message;

import java.nio.ByteBuffer;

/**
 * Turns the current batch of a {@link BatchScanner} (checked, body loaded) into messages: decompresses the body into a
 * buffer of exactly its raw length, then decodes the records in order.
 *
 * <p>Not thread-safe: one per reading thread; the decompression buffer is reused from batch to batch.
 */
public final class BatchDecoder {
    private final RecordCodec.Reader reader = new RecordCodec.Reader();
    private byte[] raw = new byte[0];
    private long nextOffset;
    private int remaining;

    /** Starts on the scanner's current batch. */
    public void open(BatchScanner scan) {
        ByteBuffer w = scan.buffer();
        int bodyAt = w.arrayOffset() + scan.at() + BatchFormat.HEADER_SIZE;
        int bodyLength = scan.length() - BatchFormat.HEADER_SIZE;
        int codec = scan.codec();
        if (codec == 0) {
            reader.reset(w.array(), bodyAt, bodyLength, scan.firstTimestamp());
        } else {
            int rawLength = scan.rawBodyLength();
            if (raw.length < rawLength) {
                raw = new byte[Math.max(rawLength, Math.min(BatchFormat.MAX_BODY_BYTES, raw.length * 2))];
            }
            BodyCodec.decompress(codec, w.array(), bodyAt, bodyLength, raw, rawLength);
            reader.reset(raw, 0, rawLength, scan.firstTimestamp());
        }
        nextOffset = scan.baseOffset();
        remaining = scan.count();
    }

    public boolean hasNext() {
        return remaining > 0;
    }

    /** The offset of the record {@link #next()} returns. */
    public long nextOffset() {
        return nextOffset;
    }

    public Message next() {
        Message m = reader.next();
        advance();
        return m;
    }

    public void skip() {
        reader.skip();
        advance();
    }

    private void advance() {
        nextOffset++;
        if (--remaining == 0 && reader.remaining() != 0) {
            throw new MalformedBatchException(reader.remaining() + " bytes after the last of the batch's records");
        }
    }

    /** Walks every record of the scanner's current batch by its length, without decoding, to check the framing. */
    public void checkFraming(BatchScanner scan) {
        open(scan);
        while (hasNext()) {
            skip();
        }
    }

    /** Decodes every record of the scanner's current batch, to check the framing. */
    public static void check(BatchScanner scan) {
        BatchDecoder d = new BatchDecoder();
        d.open(scan);
        while (d.hasNext()) {
            d.next();
        }
    }
}
