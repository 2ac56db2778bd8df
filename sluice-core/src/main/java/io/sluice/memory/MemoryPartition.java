package io.sluice.memory;

import io.sluice.Message;

import java.util.Arrays;
import java.util.concurrent.locks.ReentrantLock;

/**
 * An append-only, in-heap partition: messages in chunks of 4096, so appends never copy old entries. Appends take a
 * short lock; reads take none: a reader first reads the volatile {@link #size()}, which the writer sets after
 * storing the message, so every entry below it is visible.
 *
 * <p>Thread-safe: any number of appenders and readers.
 */
final class MemoryPartition {
    private static final int CHUNK_BITS = 12;
    private static final int CHUNK_MASK = (1 << CHUNK_BITS) - 1;

    private final ReentrantLock appendLock = new ReentrantLock();
    private volatile Message[][] chunks = new Message[16][];
    private volatile long size;

    /** Appends {@code message} and returns its offset. */
    long append(Message message) {
        appendLock.lock();
        try {
            long offset = size;
            int chunk = (int) (offset >>> CHUNK_BITS);
            Message[][] c = chunks;
            if (chunk == c.length) {
                c = Arrays.copyOf(c, c.length * 2);
            }
            if (c[chunk] == null) {
                c[chunk] = new Message[1 << CHUNK_BITS];
            }
            c[chunk][(int) (offset & CHUNK_MASK)] = message;
            chunks = c;
            size = offset + 1;
            return offset;
        } finally {
            appendLock.unlock();
        }
    }

    /** The message at {@code offset}, which must be below {@link #size()} as read before this call. */
    Message get(long offset) {
        return chunks[(int) (offset >>> CHUNK_BITS)][(int) (offset & CHUNK_MASK)];
    }

    /** Offset of the next message to be appended. */
    long size() {
        return size;
    }
}
