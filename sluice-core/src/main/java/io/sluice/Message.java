package io.sluice;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Arrays;
import java.util.Objects;

/**
 * One message: an id, an optional key, payload bytes, ordered string headers and a timestamp. Immutable and
 * thread-safe; the payload array is never copied on the delivery path, so callers must not modify an array they
 * passed in or got back.
 *
 * <p>The key decides ordering: messages of one key are handled one at a time, in the order of their partition;
 * messages without a key may be handled in any order. The id is set by the publisher (a UUIDv7) when absent and
 * travels with the message, so consumers can deduplicate redeliveries.
 */
public final class Message {
    /** Header naming the codec of the payload (see {@code io.sluice.codec.Codecs}). */
    public static final String CONTENT_TYPE = "content-type";

    private static final byte[] EMPTY = new byte[0];

    private final String id;
    private final String key;
    private final byte[] payload;
    private final Headers headers;
    private final long timestampMillis;

    private Message(String id, String key, byte[] payload, Headers headers, long timestampMillis) {
        this.id = id;
        this.key = key;
        this.payload = payload;
        this.headers = headers;
        this.timestampMillis = timestampMillis;
    }

    /** A keyless message with these payload bytes and no headers. */
    public static Message of(byte[] payload) {
        return builder().payload(payload).build();
    }

    /** A message with this key and UTF-8 text payload. */
    public static Message of(String key, String text) {
        return builder().key(key).payload(text).build();
    }

    public static Builder builder() {
        return new Builder();
    }

    /** The id, or null if not yet assigned (the publisher assigns one). */
    public String id() {
        return id;
    }

    /** The ordering key, or null for a keyless message. */
    public String key() {
        return key;
    }

    /** The payload bytes, never null; the array is shared, do not modify it. */
    public byte[] payload() {
        return payload;
    }

    /** The payload decoded as UTF-8. */
    public String payloadAsString() {
        return new String(payload, StandardCharsets.UTF_8);
    }

    public Headers headers() {
        return headers;
    }

    /** Shortcut for {@code headers().get(name)}. */
    public String header(String name) {
        return headers.get(name);
    }

    /** Milliseconds since the epoch; 0 when not yet set (the publisher sets it). */
    public long timestampMillis() {
        return timestampMillis;
    }

    public Instant timestamp() {
        return Instant.ofEpochMilli(timestampMillis);
    }

    /** Payload length plus key and header characters: the size the in-flight byte bound counts. */
    public int estimatedSize() {
        int size = payload.length + (key == null ? 0 : key.length()) + (id == null ? 0 : id.length());
        for (int i = 0, n = headers.size(); i < n; i++) {
            size += headers.name(i).length() + headers.value(i).length();
        }
        return size;
    }

    /** A builder holding this message's fields. */
    public Builder toBuilder() {
        return new Builder().id(id).key(key).payload(payload).headers(headers).timestampMillis(timestampMillis);
    }

    /** This message with id and timestamp filled in where they are absent; returns {@code this} when both are set. */
    public Message withDefaults(long nowMillis) {
        if (id != null && timestampMillis != 0) {
            return this;
        }
        return new Message(id != null ? id : MessageIds.newId(), key, payload, headers,
                timestampMillis != 0 ? timestampMillis : nowMillis);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Message m && Objects.equals(id, m.id) && Objects.equals(key, m.key)
                && Arrays.equals(payload, m.payload) && headers.equals(m.headers)
                && timestampMillis == m.timestampMillis;
    }

    @Override
    public int hashCode() {
        return Objects.hash(id, key, headers, timestampMillis) * 31 + Arrays.hashCode(payload);
    }

    @Override
    public String toString() {
        return "Message{id=" + id + ", key=" + key + ", payload=" + payload.length + " bytes, headers=" + headers
                + ", timestamp=" + timestampMillis + '}';
    }

    /** Builds a {@link Message}. Not thread-safe. */
    public static final class Builder {
        private String id;
        private String key;
        private byte[] payload = EMPTY;
        private Headers headers = Headers.EMPTY;
        private Headers.Builder headerBuilder;
        private long timestampMillis;

        private Builder() {
        }

        public Builder id(String id) {
            this.id = id;
            return this;
        }

        public Builder key(String key) {
            this.key = key;
            return this;
        }

        /** The payload; the array is kept, not copied. */
        public Builder payload(byte[] payload) {
            this.payload = Objects.requireNonNull(payload, "payload");
            return this;
        }

        /** The payload as UTF-8 bytes of {@code text}. */
        public Builder payload(String text) {
            return payload(text.getBytes(StandardCharsets.UTF_8));
        }

        public Builder headers(Headers headers) {
            this.headers = Objects.requireNonNull(headers, "headers");
            this.headerBuilder = null;
            return this;
        }

        public Builder header(String name, String value) {
            if (headerBuilder == null) {
                headerBuilder = headers.toBuilder();
            }
            headerBuilder.set(name, value);
            return this;
        }

        public Builder timestamp(Instant timestamp) {
            return timestampMillis(timestamp.toEpochMilli());
        }

        public Builder timestampMillis(long timestampMillis) {
            this.timestampMillis = timestampMillis;
            return this;
        }

        public Message build() {
            Headers h = headerBuilder != null ? headerBuilder.build() : headers;
            return new Message(id, key, payload, h, timestampMillis);
        }
    }
}
