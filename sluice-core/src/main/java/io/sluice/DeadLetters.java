package io.sluice;

/**
 * Header names and reasons of dead letters. A dead letter carries the original key, payload bytes and headers,
 * plus these headers describing why and where it came from.
 */
public final class DeadLetters {
    private DeadLetters() {
    }

    /** Why the message was dead-lettered: one of the {@code REASON_*} values. */
    public static final String REASON = "sluice-dlq-reason";
    /** Fully qualified class name of the last failure. */
    public static final String ERROR_CLASS = "sluice-dlq-error-class";
    /** Message of the last failure, cut to {@code consumer.deadLetter.maxErrorMessageLength} characters. */
    public static final String ERROR_MESSAGE = "sluice-dlq-error-message";
    /** Number of handler attempts made (0 when the message never reached the handler). */
    public static final String ATTEMPTS = "sluice-dlq-attempts";
    public static final String ORIGINAL_TOPIC = "sluice-dlq-original-topic";
    public static final String ORIGINAL_PARTITION = "sluice-dlq-original-partition";
    public static final String ORIGINAL_OFFSET = "sluice-dlq-original-offset";
    /** The consumer group that gave up on the message. */
    public static final String GROUP = "sluice-dlq-group";
    /**
     * Id of the original message. The dead letter gets an id of its own, so that a broker deduplicating by message
     * id (JetStream) cannot mistake it for the original.
     */
    public static final String ORIGINAL_ID = "sluice-dlq-original-id";
    /** ISO-8601 instant of the first failed attempt. */
    public static final String FIRST_FAILURE_TIME = "sluice-dlq-first-failure-time";

    /** Every attempt failed and the policy's {@code maxAttempts} was reached. */
    public static final String REASON_RETRIES_EXHAUSTED = "retries-exhausted";
    /** The failure's class is non-retryable by policy. */
    public static final String REASON_NON_RETRYABLE = "non-retryable";
    /** The handler threw {@link DeadLetterException}. */
    public static final String REASON_REJECTED = "rejected";
    /** The payload could not be decoded by its codec. */
    public static final String REASON_UNDECODABLE = "undecodable";
    /** The message exceeded a size limit. */
    public static final String REASON_OVERSIZED = "oversized";

    /** The default dead-letter topic of {@code topic}. */
    public static String defaultTopic(String topic) {
        return topic + ".dlq";
    }
}
