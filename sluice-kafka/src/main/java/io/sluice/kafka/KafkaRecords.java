package io.sluice.kafka;

import io.sluice.Headers;
import io.sluice.Message;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Maps a {@link Message} to a Kafka record and back, byte-exact: key as UTF-8 (null stays null), payload as the
 * value, headers in order as UTF-8 values, the id in the {@link KafkaHeaders#ID} header, the timestamp as the
 * record's create time.
 */
final class KafkaRecords {
    private KafkaRecords() {
    }

    /** The record of {@code m} on {@code topic}. */
    static ProducerRecord<byte[], byte[]> toRecord(String topic, Message m) {
        return toRecord(topic, m, -1, 0);
    }

    /**
     * The record of {@code m} on {@code topic}; with {@code attemptsMade >= 0}, a delay-tier record carrying the
     * attempts made and the due time. The message's own headers are written unchanged, so a record that hops through
     * tiers again carries the same headers each time.
     */
    static ProducerRecord<byte[], byte[]> toRecord(String topic, Message m, int attemptsMade, long dueMillis) {
        Headers h = m.headers();
        int n = h.size();
        int extra = attemptsMade >= 0 ? 3 : 1;
        Header[] headers = new Header[n + extra];
        headers[0] = new RecordHeader(KafkaHeaders.ID, m.id().getBytes(StandardCharsets.UTF_8));
        if (attemptsMade >= 0) {
            headers[1] = new RecordHeader(KafkaHeaders.DELAY_ATTEMPTS,
                    Integer.toString(attemptsMade).getBytes(StandardCharsets.US_ASCII));
            headers[2] = new RecordHeader(KafkaHeaders.DELAY_DUE,
                    Long.toString(dueMillis).getBytes(StandardCharsets.US_ASCII));
        }
        for (int i = 0; i < n; i++) {
            headers[extra + i] = new RecordHeader(h.name(i), h.value(i).getBytes(StandardCharsets.UTF_8));
        }
        byte[] key = m.key() == null ? null : m.key().getBytes(StandardCharsets.UTF_8);
        // ProducerRecord copies the header list into its own RecordHeaders: hand it a view, not a second copy.
        return new ProducerRecord<>(topic, null, m.timestampMillis(), key, m.payload(), Arrays.asList(headers));
    }

    /** Decodes records on the poll thread into one reused holder. Not thread-safe. */
    static final class Decoder {
        /** The decoded message. */
        Message message;
        /** Handler attempts made before a delay-tier hand-off; 0 for a first delivery. */
        int attemptsMade;
        /** When a delay-tier record is due, epoch milliseconds; 0 for ordinary records. */
        long dueMillis;

        void decode(ConsumerRecord<byte[], byte[]> r) {
            decode(r, null);
        }

        /**
         * @param idPrefix {@link #idPrefix} of the record's partition, or null to build it: records without an id
         *                 header get {@code idPrefix + offset}
         */
        void decode(ConsumerRecord<byte[], byte[]> r, String idPrefix) {
            String id = null;
            int attempts = 0;
            long due = 0;
            Headers.Builder headers = null;
            for (Header header : r.headers()) {
                String name = header.key();
                byte[] value = header.value();
                if (KafkaHeaders.isReserved(name)) {
                    if (name.equals(KafkaHeaders.ID)) {
                        id = value == null ? null : new String(value, StandardCharsets.UTF_8);
                    } else if (name.equals(KafkaHeaders.DELAY_ATTEMPTS)) {
                        attempts = parseInt(value);
                    } else {
                        due = parseLong(value);
                    }
                    continue;
                }
                if (headers == null) {
                    headers = Headers.builder();
                }
                headers.set(name, value == null ? "" : new String(value, StandardCharsets.UTF_8));
            }
            if (id == null) {
                id = (idPrefix != null ? idPrefix : idPrefix(r.topic(), r.partition())) + r.offset();
            }
            byte[] key = r.key();
            byte[] value = r.value();
            message = Message.builder()
                    .id(id)
                    .key(key == null ? null : new String(key, StandardCharsets.UTF_8))
                    .payload(value == null ? EMPTY : value)
                    .headers(headers == null ? Headers.EMPTY : headers.build())
                    .timestampMillis(r.timestamp())
                    .build();
            attemptsMade = attempts;
            dueMillis = due;
        }

        private static final byte[] EMPTY = new byte[0];

        /** The id of a record without an id header, less its offset: {@code kafka:<topic>/<partition>/}. */
        static String idPrefix(String topic, int partition) {
            return "kafka:" + topic + "/" + partition + "/";
        }

        private static int parseInt(byte[] ascii) {
            try {
                return ascii == null ? 0 : Integer.parseInt(new String(ascii, StandardCharsets.US_ASCII));
            } catch (NumberFormatException e) {
                return 0;
            }
        }

        private static long parseLong(byte[] ascii) {
            try {
                return ascii == null ? 0 : Long.parseLong(new String(ascii, StandardCharsets.US_ASCII));
            } catch (NumberFormatException e) {
                return 0;
            }
        }
    }
}
