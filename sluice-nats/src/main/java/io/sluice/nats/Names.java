package io.sluice.nats;

import java.nio.charset.StandardCharsets;

/**
 * Names Sluice gives to NATS objects. A topic maps to stream {@code sluice_<topic>} with one subject per partition,
 * {@code <topic>.<partition>}; group {@code g} has one durable pull consumer per partition, {@code <g>__p<n>}.
 * Stream, consumer and key-value names allow fewer characters than topics, so they use an escaped form: letters,
 * digits and '-' pass through, any other UTF-8 byte becomes {@code _XX} (hex). Stateless.
 */
final class Names {
    private static final char[] HEX = "0123456789abcdef".toCharArray();

    private Names() {
    }

    /** The escaped form of {@code s}: distinct inputs give distinct outputs. */
    static String escape(String s) {
        StringBuilder sb = new StringBuilder(s.length() + 8);
        for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
            char c = (char) (b & 0xff);
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-') {
                sb.append(c);
            } else {
                sb.append('_').append(HEX[(c >> 4) & 0xf]).append(HEX[c & 0xf]);
            }
        }
        return sb.toString();
    }

    static String stream(String topic) {
        return "sluice_" + escape(topic);
    }

    static String subject(String topic, int partition) {
        return topic + "." + partition;
    }

    static String durable(String group, int partition) {
        return escape(group) + "__p" + partition;
    }

    /**
     * Checks that {@code topic} can be a NATS subject prefix: not empty, no whitespace, no wildcards (unless
     * {@code wildcards}), no empty token.
     *
     * @throws IllegalArgumentException saying what is wrong
     */
    static String checkTopic(String topic, boolean wildcards) {
        if (topic == null || topic.isEmpty()) {
            throw new IllegalArgumentException("a NATS topic must not be empty");
        }
        for (int i = 0; i < topic.length(); i++) {
            char c = topic.charAt(i);
            if (Character.isWhitespace(c)) {
                throw new IllegalArgumentException("NATS topic '" + topic + "' contains whitespace");
            }
            if (!wildcards && (c == '*' || c == '>')) {
                throw new IllegalArgumentException("NATS topic '" + topic + "' contains a wildcard ('*' or '>'); "
                        + "wildcards are for subscribing in core mode only");
            }
        }
        if (topic.startsWith(".") || topic.endsWith(".") || topic.contains("..")) {
            throw new IllegalArgumentException("NATS topic '" + topic + "' has an empty token (leading, trailing or "
                    + "double '.')");
        }
        return topic;
    }

    /** Keyed messages go to the partition of their key's hash, the same function the memory transport uses. */
    static int partitionFor(String key, int partitions) {
        int h = key.hashCode();
        return Math.floorMod(h ^ (h >>> 16), partitions);
    }
}
