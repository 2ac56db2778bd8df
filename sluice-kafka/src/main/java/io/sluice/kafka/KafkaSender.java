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

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Supplier;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;

/**
 * The transport's producer: one {@link KafkaProducer} ({@code acks=all}, idempotent by default) shared by publishers
 * and delay-tier hand-offs.
 * Thread-safe. Futures complete on the producer's network thread; callers must not block in callbacks.
 */
final class KafkaSender implements TransportProducer {
    private static final Logger log = LoggerFactory.getLogger(KafkaSender.class);
    private static final long LEADER_WAIT_NANOS = TimeUnit.SECONDS.toNanos(30);

    private final KafkaProducer<byte[], byte[]> producer;
    private final KafkaSettings settings;
    private final Supplier<Admin> admin;
    /** Topics whose partition leaders have answered; the rest get {@link #awaitLeaders} before their first send. */
    private final Set<String> readyTopics = ConcurrentHashMap.newKeySet();

    KafkaSender(KafkaSettings settings, String clientIdSuffix, Supplier<Admin> admin) {
        this.settings = settings;
        this.admin = admin;
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
            if (!readyTopics.contains(record.topic())) {
                awaitLeaders(record.topic());
            }
            producer.send(record, sent);
        } catch (KafkaException | IllegalStateException e) {
            sent.onCompletion(null, e);
        }
        return sent;
    }

    /**
     * Waits (once per topic, up to 30 s) until every partition's leader answers. An idempotent producer that
     * pipelines batches into a partition whose leader is still being elected — a topic created a moment ago — can
     * retry {@code OUT_OF_ORDER_SEQUENCE_NUMBER} until its delivery timeout (KAFKA-14359): the first batch fails with
     * NOT_LEADER, a later one is accepted as the partition's first, and the retried first batch never fits again.
     * Blocks the caller on a topic's first publish, as the producer's own metadata fetch does.
     */
    private void awaitLeaders(String topic) {
        List<PartitionInfo> partitions = producer.partitionsFor(topic); // fetches metadata, may auto-create
        Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
        for (PartitionInfo p : partitions) {
            latest.put(new TopicPartition(topic, p.partition()), OffsetSpec.latest());
        }
        long deadline = System.nanoTime() + LEADER_WAIT_NANOS;
        while (true) {
            try {
                admin.get().listOffsets(latest).all().get(LEADER_WAIT_NANOS, TimeUnit.NANOSECONDS);
                readyTopics.add(topic);
                return;
            } catch (ExecutionException | TimeoutException e) {
                boolean retriable = e instanceof TimeoutException || e.getCause() instanceof RetriableException;
                if (!retriable || System.nanoTime() - deadline > 0) {
                    // Not allowed to list offsets (no DESCRIBE on the topic), or still no leader: send anyway.
                    log.debug("Leaders of topic {} not confirmed; sending anyway", topic, e);
                    readyTopics.add(topic);
                    return;
                }
                LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(20));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new org.apache.kafka.common.errors.InterruptException(e);
            }
        }
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
