package io.sluice.codec;

/** {@code application/octet-stream}: the payload as it is. */
public final class BytesCodec implements Codec {
    public static final String CONTENT_TYPE = "application/octet-stream";

    @Override
    public String contentType() {
        return CONTENT_TYPE;
    }

    @Override
    public boolean canEncode(Class<?> type) {
        return type == byte[].class;
    }

    @Override
    public byte[] encode(Object value) {
        return (byte[]) value;
    }

    @Override
    public <T> T decode(byte[] payload, Class<T> type) {
        if (type != byte[].class && type != Object.class) {
            throw new IllegalArgumentException(CONTENT_TYPE + " decodes to byte[], not " + type.getName());
        }
        return type.cast(payload);
    }
}
