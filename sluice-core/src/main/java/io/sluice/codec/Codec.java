package io.sluice.codec;

/**
 * Maps payload bytes to values of application types, for one content type. Implementations are thread-safe.
 */
public interface Codec {
    /** The media type this codec writes into the {@code content-type} header, such as {@code application/json}. */
    String contentType();

    /** True if this codec can encode values of {@code type}. */
    boolean canEncode(Class<?> type);

    byte[] encode(Object value) throws Exception;

    /** Decodes {@code payload} as a {@code type}; throws if the bytes are not a valid encoding. */
    <T> T decode(byte[] payload, Class<T> type) throws Exception;
}
