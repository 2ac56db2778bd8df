package io.sluice.kafka;

import org.apache.kafka.clients.producer.ProducerInterceptor;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;

import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A producer interceptor (configured through {@code interceptor.classes}) that records which thread sent each record
 * to a delay-tier topic: Kafka calls {@code onSend} on the thread that calls {@code KafkaProducer.send}.
 */
public final class SendingThreads implements ProducerInterceptor<byte[], byte[]> {
    /** Names of the threads that sent delay-tier records, in order. */
    static final List<String> TIER_SENDERS = new CopyOnWriteArrayList<>();

    @Override
    public ProducerRecord<byte[], byte[]> onSend(ProducerRecord<byte[], byte[]> record) {
        if (record.topic().contains(".retry.")) {
            TIER_SENDERS.add(Thread.currentThread().getName());
        }
        return record;
    }

    @Override
    public void onAcknowledgement(RecordMetadata metadata, Exception exception) {
    }

    @Override
    public void close() {
    }

    @Override
    public void configure(Map<String, ?> configs) {
    }
}
