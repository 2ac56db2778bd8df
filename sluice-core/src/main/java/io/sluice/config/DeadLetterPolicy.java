package io.sluice.config;

/**
 * Where and how dead letters are written. Immutable and thread-safe. Keys under {@code consumer.deadLetter}:
 * {@code topic} (default {@code <topic>.dlq}) and {@code maxErrorMessageLength}.
 */
public final class DeadLetterPolicy {
    static final String PREFIX = "consumer.deadLetter.";

    private final String topic;
    private final int maxErrorMessageLength;

    private DeadLetterPolicy(Builder b) {
        this.topic = b.topic;
        this.maxErrorMessageLength = b.maxErrorMessageLength;
    }

    public static Builder builder() {
        return new Builder();
    }

    public static DeadLetterPolicy defaults() {
        return builder().build();
    }

    public static DeadLetterPolicy from(ConfigSection s) {
        DeadLetterPolicy d = defaults();
        DeadLetterPolicy p = builder().topic(s.string("topic", d.topic))
                .maxErrorMessageLength(s.integer("maxErrorMessageLength", d.maxErrorMessageLength)).build();
        s.rejectUnknownKeys();
        return p;
    }

    /** The dead-letter topic for {@code sourceTopic}. */
    public String topicFor(String sourceTopic) {
        return topic != null ? topic : io.sluice.DeadLetters.defaultTopic(sourceTopic);
    }

    public int maxErrorMessageLength() {
        return maxErrorMessageLength;
    }

    @Override
    public String toString() {
        return "DeadLetterPolicy{topic=" + (topic == null ? "<topic>.dlq" : topic) + ", maxErrorMessageLength="
                + maxErrorMessageLength + '}';
    }

    /** Builds a {@link DeadLetterPolicy}. Not thread-safe. */
    public static final class Builder {
        private String topic;
        private int maxErrorMessageLength = 1024;

        private Builder() {
        }

        /** A fixed dead-letter topic for every source topic; null for {@code <topic>.dlq}. */
        public Builder topic(String topic) {
            this.topic = topic;
            return this;
        }

        public Builder maxErrorMessageLength(int maxErrorMessageLength) {
            this.maxErrorMessageLength = maxErrorMessageLength;
            return this;
        }

        public DeadLetterPolicy build() {
            if (topic != null) {
                Checks.notBlank(PREFIX + "topic", topic);
            }
            Checks.intBetween(PREFIX + "maxErrorMessageLength", maxErrorMessageLength, 16, 65536);
            return new DeadLetterPolicy(this);
        }
    }
}
