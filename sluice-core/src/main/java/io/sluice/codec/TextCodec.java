package io.sluice.codec;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/** {@code text/plain; charset=utf-8}. Decoding is strict: malformed UTF-8 is an error, not replacement characters. */
public final class TextCodec implements Codec {
    public static final String CONTENT_TYPE = "text/plain; charset=utf-8";

    @Override
    public String contentType() {
        return CONTENT_TYPE;
    }

    @Override
    public boolean canEncode(Class<?> type) {
        return type == String.class;
    }

    @Override
    public byte[] encode(Object value) {
        return ((String) value).getBytes(StandardCharsets.UTF_8);
    }

    @Override
    public <T> T decode(byte[] payload, Class<T> type) throws CharacterCodingException {
        if (type != String.class && type != Object.class && type != CharSequence.class) {
            throw new IllegalArgumentException("text/plain decodes to String, not " + type.getName());
        }
        String text = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT)
                .decode(ByteBuffer.wrap(payload)).toString();
        return type.cast(text);
    }
}
