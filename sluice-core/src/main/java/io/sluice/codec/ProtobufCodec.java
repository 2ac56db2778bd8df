package io.sluice.codec;

import com.google.protobuf.MessageLite;
import com.google.protobuf.Parser;

/**
 * Protocol Buffers payloads ({@code application/x-protobuf}) for generated message classes: encodes any
 * {@link MessageLite}, decodes with the generated class's own {@code parser()}. Needs {@code com.google.protobuf:
 * protobuf-java} on the class path (an optional dependency of sluice-core); {@link Codecs#defaults()} includes this
 * codec only when it is there. The payload names no type: producer and consumer agree on it through the topic, as
 * usual with Protobuf.
 *
 * <p>Thread-safe; parsers are looked up once per class.
 */
public final class ProtobufCodec implements Codec {
    public static final String CONTENT_TYPE = "application/x-protobuf";

    private static final ClassValue<Parser<?>> PARSERS = new ClassValue<>() {
        @Override
        protected Parser<?> computeValue(Class<?> type) {
            try {
                return (Parser<?>) type.getMethod("parser").invoke(null);
            } catch (ReflectiveOperationException | ClassCastException e) {
                throw new IllegalArgumentException(type.getName() + " is not a generated Protobuf message class "
                        + "(it has no static parser())", e);
            }
        }
    };

    @Override
    public String contentType() {
        return CONTENT_TYPE;
    }

    @Override
    public boolean canEncode(Class<?> type) {
        return MessageLite.class.isAssignableFrom(type);
    }

    @Override
    public byte[] encode(Object value) {
        return ((MessageLite) value).toByteArray();
    }

    @Override
    public <T> T decode(byte[] payload, Class<T> type) throws Exception {
        if (!MessageLite.class.isAssignableFrom(type)) {
            throw new IllegalArgumentException(type.getName() + " is not a Protobuf message class");
        }
        return type.cast(PARSERS.get(type).parseFrom(payload));
    }
}
