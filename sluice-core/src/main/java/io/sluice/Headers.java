package io.sluice;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.function.BiConsumer;

/**
 * Immutable, ordered string headers of a {@link Message}. Names are unique; insertion order is kept and is the
 * order in which transports write them.
 *
 * <p>Backed by one array of alternating names and values, so reading headers allocates nothing. Thread-safe
 * (immutable).
 */
public final class Headers {
    private static final String[] NONE = new String[0];
    /** The empty header set. */
    public static final Headers EMPTY = new Headers(NONE);

    private final String[] pairs;

    private Headers(String[] pairs) {
        this.pairs = pairs;
    }

    /** Headers from name/value pairs: {@code Headers.of("a", "1", "b", "2")}. A repeated name keeps its last value. */
    public static Headers of(String... namesAndValues) {
        if (namesAndValues.length % 2 != 0) {
            throw new IllegalArgumentException("Headers.of needs name/value pairs, got an odd count: " + namesAndValues.length);
        }
        Builder b = builder();
        for (int i = 0; i < namesAndValues.length; i += 2) {
            b.set(namesAndValues[i], namesAndValues[i + 1]);
        }
        return b.build();
    }

    /** Headers with the entries of {@code map}, in its iteration order. */
    public static Headers of(Map<String, String> map) {
        Builder b = builder();
        map.forEach(b::set);
        return b.build();
    }

    public static Builder builder() {
        return new Builder(NONE, 0);
    }

    /** A builder starting from these headers; {@link Builder#set} replaces values in place, keeping order. */
    public Builder toBuilder() {
        return new Builder(pairs, pairs.length);
    }

    /** The value of {@code name}, or null when absent. */
    public String get(String name) {
        final String[] p = pairs;
        for (int i = 0; i < p.length; i += 2) {
            if (p[i].equals(name)) {
                return p[i + 1];
            }
        }
        return null;
    }

    public boolean contains(String name) {
        return get(name) != null;
    }

    public int size() {
        return pairs.length / 2;
    }

    public boolean isEmpty() {
        return pairs.length == 0;
    }

    /** The name of entry {@code index}, {@code 0 <= index < size()}. */
    public String name(int index) {
        return pairs[index * 2];
    }

    /** The value of entry {@code index}, {@code 0 <= index < size()}. */
    public String value(int index) {
        return pairs[index * 2 + 1];
    }

    /** Calls {@code action} for each entry in order, without allocating. */
    public void forEach(BiConsumer<String, String> action) {
        final String[] p = pairs;
        for (int i = 0; i < p.length; i += 2) {
            action.accept(p[i], p[i + 1]);
        }
    }

    /** A new ordered map of the entries. */
    public Map<String, String> toMap() {
        Map<String, String> m = new LinkedHashMap<>();
        forEach(m::put);
        return m;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Headers h && Arrays.equals(pairs, h.pairs);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(pairs);
    }

    @Override
    public String toString() {
        return toMap().toString();
    }

    /** Builds {@link Headers}. Not thread-safe. */
    public static final class Builder {
        private String[] pairs;
        private int length;

        private Builder(String[] initial, int length) {
            this.pairs = initial.length == 0 ? new String[8] : Arrays.copyOf(initial, Math.max(8, initial.length));
            this.length = length;
        }

        /** Sets {@code name} to {@code value}; an existing name keeps its position. */
        public Builder set(String name, String value) {
            Objects.requireNonNull(name, "header name");
            Objects.requireNonNull(value, () -> "value of header " + name);
            for (int i = 0; i < length; i += 2) {
                if (pairs[i].equals(name)) {
                    pairs[i + 1] = value;
                    return this;
                }
            }
            if (length == pairs.length) {
                pairs = Arrays.copyOf(pairs, pairs.length * 2);
            }
            pairs[length++] = name;
            pairs[length++] = value;
            return this;
        }

        /** Sets every entry of {@code headers}, in their order. */
        public Builder setAll(Headers headers) {
            headers.forEach(this::set);
            return this;
        }

        public Builder remove(String name) {
            for (int i = 0; i < length; i += 2) {
                if (pairs[i].equals(name)) {
                    System.arraycopy(pairs, i + 2, pairs, i, length - i - 2);
                    length -= 2;
                    pairs[length] = null;
                    pairs[length + 1] = null;
                    return this;
                }
            }
            return this;
        }

        public Headers build() {
            return length == 0 ? EMPTY : new Headers(Arrays.copyOf(pairs, length));
        }
    }
}
