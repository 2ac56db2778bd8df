package io.sluice.codec;

import io.sluice.Handler;
import io.sluice.Message;
import io.sluice.UndecodableMessageException;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The codecs of a client, chosen by the {@code content-type} header when decoding and by the value's class when
 * encoding. Immutable and thread-safe. Defaults: bytes, UTF-8 text, JSON, and Protobuf when protobuf-java is present.
 */
public final class Codecs {
    private final List<Codec> codecs;

    private Codecs(List<Codec> codecs) {
        this.codecs = List.copyOf(codecs);
    }

    /** {@link BytesCodec}, {@link TextCodec}, {@link JsonCodec}, and {@link ProtobufCodec} when protobuf-java is there. */
    public static Codecs defaults() {
        List<Codec> list = new ArrayList<>(List.of(new BytesCodec(), new TextCodec(), new JsonCodec()));
        if (protobufAvailable()) {
            list.add(0, new ProtobufCodec()); // before JSON, which would otherwise claim generated classes
        }
        return new Codecs(list);
    }

    /** True if protobuf-java is on the class path; checked here so that ProtobufCodec is never loaded without it. */
    private static boolean protobufAvailable() {
        try {
            Class.forName("com.google.protobuf.MessageLite", false, Codecs.class.getClassLoader());
            return true;
        } catch (ClassNotFoundException | LinkageError e) {
            return false;
        }
    }

    /** These codecs plus {@code codec}, which takes precedence for its content type and the types it encodes. */
    public Codecs with(Codec codec) {
        List<Codec> list = new ArrayList<>();
        list.add(codec);
        list.addAll(codecs);
        return new Codecs(list);
    }

    /** A message builder with {@code value} encoded as payload and its content type set. */
    public Message.Builder encode(Object value) {
        Codec codec = forType(value.getClass());
        try {
            return Message.builder().payload(codec.encode(value)).header(Message.CONTENT_TYPE, codec.contentType());
        } catch (Exception e) {
            throw new IllegalArgumentException("cannot encode " + value.getClass().getName() + " as "
                    + codec.contentType() + ": " + e.getMessage(), e);
        }
    }

    /**
     * Decodes the payload with the codec its {@code content-type} names (or, without the header, the codec for
     * {@code type}).
     *
     * @throws UndecodableMessageException if no codec matches or the bytes do not decode; the engine dead-letters
     *                                     such a message at once
     */
    public <T> T decode(Message message, Class<T> type) {
        String contentType = message.header(Message.CONTENT_TYPE);
        Codec codec = contentType == null ? forType(type) : forContentType(contentType);
        if (codec == null) {
            throw new UndecodableMessageException("no codec for content type '" + contentType + "' of message "
                    + message.id(), null);
        }
        try {
            return codec.decode(message.payload(), type);
        } catch (Exception e) {
            throw new UndecodableMessageException("cannot decode message " + message.id() + " ("
                    + message.payload().length + " bytes, " + codec.contentType() + ") as " + type.getName() + ": "
                    + e.getMessage(), e);
        }
    }

    /** A handler that decodes each payload as {@code type} before calling {@code handler}. */
    public <T> Handler handler(Class<T> type, TypedHandler<T> handler) {
        return message -> handler.handle(decode(message, type), message);
    }

    /** The codec whose media type (parameters ignored) matches {@code contentType}, or null. */
    public Codec forContentType(String contentType) {
        String wanted = mediaType(contentType);
        for (Codec c : codecs) {
            if (mediaType(c.contentType()).equals(wanted)) {
                return c;
            }
        }
        return null;
    }

    private Codec forType(Class<?> type) {
        for (Codec c : codecs) {
            if (c.canEncode(type)) {
                return c;
            }
        }
        throw new IllegalArgumentException("no codec encodes " + type.getName());
    }

    private static String mediaType(String contentType) {
        int semicolon = contentType.indexOf(';');
        return (semicolon < 0 ? contentType : contentType.substring(0, semicolon)).trim().toLowerCase(Locale.ROOT);
    }
}
