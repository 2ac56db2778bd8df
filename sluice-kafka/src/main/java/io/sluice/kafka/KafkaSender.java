package io.sluice.kafka;

import io.sluice.Message;
import io.sluice.PublishException;
import io.sluice.Receipt;
import io.sluice.spi.TransientTransportException;
import io.sluice.spi.TransportProducer;
import org.apache.kafka.clients.producer.Callback;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.errors.AuthenticationException;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.errors.RetriableException;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;

/**
 * The transport's producer: one idempotent {@link KafkaProducer} shared by publishers and delay-tier hand-offs.
 * Thread-safe. Futures complete on the producer's network thread; callers must not block in callbacks.
 */
final class KafkaSender implements TransportProducer {
    private final KafkaProducer<byte[], byte[]> producer;
    private final KafkaSettings settings;

    KafkaSender(KafkaSettings settings, String clientIdSuffix) {
        this.settings = settings;
        this.producer = new KafkaProducer<>(settings.producer(clientIdSuffix));
    }

    @Override
    public CompletableFuture<Receipt> send(String topic, Message message) {
        return send(KafkaRecords.toRecord(topic, message), message);
    }

    /** Sends a prepared record of {@code message}; the receipt names the record's topic. */
    CompletableFuture<Receipt> send(ProducerRecord<byte[], byte[]> record, Message message) {
        Sent sent = new Sent(record.topic(), message, record);
        try {
            producer.send(record, sent);
        } catch (KafkaException | IllegalStateException e) {
            sent.onCompletion(null, e);
        }
        return sent;
    }

    @Override
    public boolean isTransient(Throwable failure) {
        Throwable t = unwrap(failure);
        return t instanceof TransientTransportException || t instanceof RetriableException;
    }

    @Override
    public void flush() {
        producer.flush();
    }

    void close(Duration timeout) {
        producer.close(timeout);
    }

    /** The future of one send, and its completion callback: one allocation per send. */
    private final class Sent extends CompletableFuture<Receipt> implements Callback {
        private final String topic;
        private final Message message;
        private final ProducerRecord<byte[], byte[]> record;

        Sent(String topic, Message message, ProducerRecord<byte[], byte[]> record) {
            this.topic = topic;
            this.message = message;
            this.record = record;
        }

        @Override
        public void onCompletion(RecordMetadata metadata, Exception e) {
            if (e == null) {
                complete(new Receipt(topic, metadata.partition(), metadata.offset(), message.id()));
            } else {
                completeExceptionally(translate(e, topic, message, record));
            }
        }
    }

    private RuntimeException translate(Exception e, String topic, Message m, ProducerRecord<byte[], byte[]> record) {
        String what = "publish of message " + m.id() + " to Kafka topic " + topic;
        if (e instanceof RecordTooLargeException) {
            int size = (record.value() == null ? 0 : record.value().length)
                    + (record.key() == null ? 0 : record.key().length);
            return new PublishException(what + " failed: the record (" + size + " bytes of key and payload, plus "
                    + "headers) is larger than the broker or producer accepts (" + e.getMessage() + "). Raise the "
                    + "topic's max.message.bytes and kafka.maxRequestSize (now " + settings.producerMaxRequestSize()
                    + "), or send smaller messages", e);
        }
        if (e instanceof AuthenticationException) {
            return new PublishException(what + " failed: authentication with the Kafka brokers at "
                    + settings.bootstrapServers() + " failed (" + e.getMessage() + "); check kafka.security", e);
        }
        if (e instanceof AuthorizationException) {
            return new PublishException(what + " failed: not authorized (" + e.getMessage() + ")", e);
        }
        if (e instanceof RetriableException) {
            return new TransientTransportException(what + " failed and may succeed if tried again: " + e.getMessage(), e);
        }
        return new PublishException(what + " failed: " + e.getMessage(), e);
    }

    private static Throwable unwrap(Throwable e) {
        Throwable t = e;
        while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
            t = t.getCause();
        }
        return t;
    }
}
