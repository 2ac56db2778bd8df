package io.sluice.kafka;

/**
 * Kafka record headers that Sluice writes itself. They are taken off when a record becomes a
 * {@link io.sluice.Message}, so handlers see only the message's own headers; any other Kafka header becomes a message
 * header (a null value becomes an empty string; for a repeated name the last value wins, at the first position).
 */
public final class KafkaHeaders {
    private KafkaHeaders() {
    }

    /** The message id (UTF-8). Records without it get the id {@code kafka:<topic>/<partition>/<offset>}. */
    public static final String ID = "sluice-id";
    /** On delay-tier records: handler attempts made before the hand-off (decimal). */
    public static final String DELAY_ATTEMPTS = "sluice-delay-attempts";
    /** On delay-tier records: when the record is due again, epoch milliseconds (decimal). */
    public static final String DELAY_DUE = "sluice-delay-due";

    static boolean isReserved(String name) {
        return name.startsWith("sluice-") && (name.equals(ID) || name.equals(DELAY_ATTEMPTS) || name.equals(DELAY_DUE));
    }
}
