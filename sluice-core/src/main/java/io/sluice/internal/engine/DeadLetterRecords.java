package io.sluice.internal.engine;

import io.sluice.DeadLetters;
import io.sluice.Headers;
import io.sluice.Message;
import io.sluice.MessageIds;

import java.time.Instant;

/** Builds the dead letter of a message: original key, payload and headers plus the cause headers. Stateless. */
final class DeadLetterRecords {
    private DeadLetterRecords() {
    }

    static Message build(Message original, String reason, Throwable error, int attempts, String topic,
                         int partition, long offset, String group, long firstFailureMillis, int maxErrorLength) {
        Headers.Builder h = original.headers().toBuilder()
                .set(DeadLetters.REASON, reason)
                .set(DeadLetters.ERROR_CLASS, error == null ? "" : error.getClass().getName())
                .set(DeadLetters.ERROR_MESSAGE, truncate(messageOf(error), maxErrorLength))
                .set(DeadLetters.ATTEMPTS, Integer.toString(attempts))
                .set(DeadLetters.ORIGINAL_TOPIC, topic)
                .set(DeadLetters.ORIGINAL_PARTITION, Integer.toString(partition))
                .set(DeadLetters.ORIGINAL_OFFSET, Long.toString(offset))
                .set(DeadLetters.GROUP, group)
                .set(DeadLetters.FIRST_FAILURE_TIME, Instant.ofEpochMilli(firstFailureMillis).toString());
        if (original.id() != null) {
            h.set(DeadLetters.ORIGINAL_ID, original.id());
        }
        return original.toBuilder().id(MessageIds.newId()).headers(h.build()).build();
    }

    /** The error's message; a message that cannot be read (its getMessage throws) is not allowed to stop the letter. */
    private static String messageOf(Throwable error) {
        if (error == null) {
            return "";
        }
        try {
            return String.valueOf(error.getMessage());
        } catch (RuntimeException e) {
            return "<getMessage() threw " + e.getClass().getName() + ">";
        }
    }

    static String truncate(String text, int max) {
        if (text.length() <= max) {
            return text;
        }
        int cut = max - 1;
        if (Character.isHighSurrogate(text.charAt(cut - 1))) {
            cut--;
        }
        return text.substring(0, cut) + "…";
    }
}
