package io.sluice.log;

/**
 * How the log compresses each batch it writes ({@code log.compression}). Readers decode every codec whatever the
 * setting, so it can change between runs. A batch that would not shrink is stored uncompressed.
 */
public enum Compression {
    /** Batches are stored as encoded. */
    NONE,
    /** LZ4 block compression (lz4-java): cheap on CPU, modest ratio. */
    LZ4,
    /** Zstandard at level 3 (zstd-jni): better ratio, more CPU. */
    ZSTD;

    /** The codec number in a batch's attributes. */
    public int id() {
        return ordinal();
    }
}
