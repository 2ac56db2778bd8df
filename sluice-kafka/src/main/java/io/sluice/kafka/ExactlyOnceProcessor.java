package io.sluice.kafka;

import io.sluice.Message;
import io.sluice.config.StartPosition;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.AuthenticationException;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.OutOfOrderSequenceException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.errors.UnsupportedVersionException;
import org.apache.kafka.common.errors.WakeupException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Consume-transform-produce with exactly-once results on Kafka: each batch of input records is transformed, its
 * output sent, and its input offsets committed in one Kafka transaction ({@code sendOffsetsToTransaction}). Readers
 * with {@code isolation.level=read_committed} see the output of a batch exactly once, and the group's committed
 * position advances only together with that output. If the transform or a send fails, the transaction is aborted
 * (its output stays invisible to read_committed readers), the input is rewound to the batch start, and the batch
 * is tried again after a backoff, during which the consumer keeps polling with its partitions paused, so it stays in
 * the group. A commit that times out is tried again, never aborted: it may already be
 * completing on the broker, and Kafka allows nothing else.
 *
 * <p>This is a Kafka-specific alternative to a {@link io.sluice.Sluice} subscription, not a mode of it: the
 * subscription engine runs keys in parallel and commits a watermark, which cannot be tied to one producer
 * transaction. Here a batch is processed in partition order on one thread. A poison record holds its partition
 * until the transform handles it (for example by sending it to a dead-letter topic through the {@link Output}, which
 * then commits atomically with everything else).
 *
 * <pre>{@code
 * try (ExactlyOnceProcessor p = ExactlyOnceProcessor.builder(KafkaSettings.of("127.0.0.1:9092"))
 *         .input("orders").group("invoicer").transactionalId("invoicer-1")
 *         .transform((order, out) -> out.send("invoices", Message.of(order.key(), invoiceFor(order))))
 *         .start()) {
 *     ...
 * }
 * }</pre>
 *
 * <p>Threads: one platform thread per processor runs the loop; {@link #close()} and the statistics may be called
 * from any thread. Give each running instance its own {@code transactionalId}: a second instance with the same id
 * fences the first (which then stops with {@link #failure()} set).
 */
public final class ExactlyOnceProcessor implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ExactlyOnceProcessor.class);
    private static final Duration POLL = Duration.ofMillis(200);
    private static final int COMMIT_RETRIES_WHILE_CLOSING = 3;

    /** Transforms one input message; called on the processor's thread, in partition order. */
    @FunctionalInterface
    public interface Transform {
        /**
         * @param input  the consumed message
         * @param output where to send results; they become visible only if the batch's transaction commits
         * @throws Exception to abort the batch's transaction and try the batch again
         */
        void apply(Message input, Output output) throws Exception;
    }

    /** Sends messages inside the current transaction. Only for use within {@link Transform#apply}. */
    public interface Output {
        /** Sends {@code message} (an id and timestamp are assigned when absent) to {@code topic}. */
        void send(String topic, Message message);
    }

    private final Builder config;
    private final Thread thread;
    private final KafkaConsumer<byte[], byte[]> consumer;
    private final KafkaProducer<byte[], byte[]> producer;
    private final KafkaRecords.Decoder decoder = new KafkaRecords.Decoder();
    private final Output output;
    private final AtomicLong committedTransactions = new AtomicLong();
    private final AtomicLong abortedTransactions = new AtomicLong();
    private final AtomicLong processedRecords = new AtomicLong();
    private final AtomicLong commitRetries = new AtomicLong();
    private final AtomicLong partitionsLost = new AtomicLong();
    private final Runnable beforeCommit;
    private volatile boolean running = true;
    private volatile Throwable failure;

    private ExactlyOnceProcessor(Builder b) {
        this.config = b;
        this.beforeCommit = b.beforeCommit;
        Map<String, Object> consumerProps = b.settings.consumer("eos-" + b.transactionalId, b.group,
                b.startFrom == StartPosition.LATEST);
        consumerProps.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        consumerProps.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, Integer.toString(b.maxBatch));
        Map<String, Object> producerProps = b.settings.producer("eos-" + b.transactionalId);
        producerProps.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, b.transactionalId);
        producerProps.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        producerProps.put(ProducerConfig.ACKS_CONFIG, "all");
        this.consumer = new KafkaConsumer<>(consumerProps);
        this.producer = new KafkaProducer<>(producerProps);
        this.output = (topic, message) -> producer.send(KafkaRecords.toRecord(topic,
                message.withDefaults(System.currentTimeMillis())));
        this.thread = Thread.ofPlatform().name("sluice-eos-" + b.transactionalId).unstarted(this::run);
    }

    public static Builder builder(KafkaSettings settings) {
        return new Builder(settings);
    }

    private void run() {
        try {
            producer.initTransactions();
            consumer.subscribe(List.of(config.input), new Membership());
            int failures = 0;
            while (running) {
                ConsumerRecords<byte[], byte[]> records;
                try {
                    records = consumer.poll(POLL);
                } catch (WakeupException e) {
                    break;
                }
                if (records.isEmpty()) {
                    continue;
                }
                if (processInTransaction(records)) {
                    failures = 0;
                } else {
                    rewind(records);
                    backOffPolling(++failures);
                }
            }
        } catch (ProducerFencedException | InvalidProducerEpochException | OutOfOrderSequenceException
                 | AuthenticationException | AuthorizationException | UnsupportedVersionException e) {
            failure = e;
            log.error("Exactly-once processor {} on {} stopped: {}", config.transactionalId, config.input, e.toString());
        } catch (RuntimeException | Error e) {
            failure = e;
            log.error("Exactly-once processor {} on {} failed", config.transactionalId, config.input, e);
        } finally {
            running = false;
            producer.close(Duration.ofSeconds(30));
            consumer.close(Duration.ofSeconds(30));
        }
    }

    /**
     * Counts partitions taken away without a revoke: this member was dropped from the group, which happens when it
     * does not poll within {@code max.poll.interval.ms}. Runs on the processor's thread, inside {@code poll}.
     */
    private final class Membership implements ConsumerRebalanceListener {
        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            // Between batches: no transaction is open, nothing to finish.
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
        }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> partitions) {
            if (!partitions.isEmpty()) {
                partitionsLost.addAndGet(partitions.size());
                log.warn("Exactly-once processor {} lost {}: it was out of the group (no poll within the consumer's "
                        + "max.poll.interval.ms?)", config.transactionalId, partitions);
            }
        }
    }

    /** @return true if the batch's transaction committed */
    private boolean processInTransaction(ConsumerRecords<byte[], byte[]> records) {
        producer.beginTransaction();
        try {
            Map<TopicPartition, OffsetAndMetadata> next = new HashMap<>();
            for (TopicPartition tp : records.partitions()) {
                List<ConsumerRecord<byte[], byte[]>> batch = records.records(tp);
                for (ConsumerRecord<byte[], byte[]> r : batch) {
                    decoder.decode(r);
                    config.transform.apply(decoder.message, output);
                }
                next.put(tp, new OffsetAndMetadata(batch.get(batch.size() - 1).offset() + 1));
            }
            producer.sendOffsetsToTransaction(next, consumer.groupMetadata());
            beforeCommit.run();
            commit(records.count());
        } catch (ProducerFencedException | InvalidProducerEpochException | OutOfOrderSequenceException
                 | AuthenticationException | AuthorizationException | UnsupportedVersionException
                 | CommitNotConfirmed e) {
            throw e; // the producer cannot go on: stop, leaving the open transaction to the broker
        } catch (Exception e) {
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            log.warn("Exactly-once processor {}: transaction over {} records of {} aborted: {}",
                    config.transactionalId, records.count(), config.input, e.toString());
            abort(e);
            abortedTransactions.incrementAndGet();
            return false;
        }
        committedTransactions.incrementAndGet();
        processedRecords.addAndGet(records.count());
        return true;
    }

    /**
     * Commits the open transaction. A commit that times out may still be completing on the broker, so Kafka allows
     * nothing but trying the commit again (an abort now fails): retry it, with backoff, for as long as the processor
     * runs, then a few times more while it closes. If it still has not gone through, the processor stops and the
     * transaction coordinator decides the transaction's fate; the input offsets are part of it, so a restart neither
     * loses nor repeats output either way. Other failures propagate, and the transaction is aborted.
     */
    private void commit(int records) {
        int timeouts = 0;
        while (true) {
            try {
                producer.commitTransaction();
                return;
            } catch (TimeoutException e) {
                timeouts++;
                commitRetries.incrementAndGet();
                if (!running && timeouts > COMMIT_RETRIES_WHILE_CLOSING) {
                    throw new CommitNotConfirmed("the commit of a transaction over " + records + " records of "
                            + config.input + " timed out " + timeouts + " times; closing without knowing its outcome",
                            e);
                }
                log.warn("Exactly-once processor {}: committing the transaction over {} records of {} timed out "
                        + "({}); trying the commit again", config.transactionalId, records, config.input, e.getMessage());
                backOff(timeouts);
            }
        }
    }

    /** A commit timed out and the processor is closing: whether it went through is the broker's to decide. */
    private static final class CommitNotConfirmed extends KafkaException {
        CommitNotConfirmed(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /** Aborts the open transaction; an abort that times out may only be retried, like a commit. */
    private void abort(Exception cause) {
        int timeouts = 0;
        while (true) {
            try {
                producer.abortTransaction();
                return;
            } catch (TimeoutException e) {
                timeouts++;
                if (!running && timeouts > COMMIT_RETRIES_WHILE_CLOSING) {
                    e.addSuppressed(cause);
                    throw e;
                }
                backOff(timeouts);
            } catch (KafkaException abortFailure) {
                abortFailure.addSuppressed(cause);
                throw abortFailure;
            }
        }
    }

    /** Moves each partition of an aborted batch back to the batch start, so the next poll returns it again. */
    private void rewind(ConsumerRecords<byte[], byte[]> records) {
        for (TopicPartition tp : records.partitions()) {
            if (consumer.assignment().contains(tp)) {
                consumer.seek(tp, records.records(tp).get(0).offset());
            }
        }
    }

    /**
     * Waits before retrying an aborted batch, polling all the while with every partition paused, so a backoff longer
     * than {@code max.poll.interval.ms} does not drop this member from the group. Records of partitions assigned
     * during the wait (not paused yet) are rewound, to come again after it.
     */
    private void backOffPolling(int failures) {
        long deadline = System.nanoTime() + backoffNanos(failures);
        consumer.pause(consumer.assignment());
        try {
            for (long left = deadline - System.nanoTime(); running && left > 0; left = deadline - System.nanoTime()) {
                ConsumerRecords<byte[], byte[]> stray = consumer.poll(Duration.ofNanos(Math.min(left,
                        POLL.toNanos())));
                rewind(stray);
                consumer.pause(consumer.assignment());
            }
        } catch (WakeupException e) {
            running = false; // close() wakes the consumer up
        } finally {
            consumer.resume(consumer.assignment());
        }
    }

    /** Jittered exponential backoff: uniform in [ceiling / 2, ceiling], the ceiling doubling up to the maximum. */
    private long backoffNanos(int failures) {
        long ceiling = Math.min(config.maxBackoff.toNanos(), config.backoff.toNanos() << Math.min(failures - 1, 20));
        return ThreadLocalRandom.current().nextLong(ceiling / 2, ceiling + 1);
    }

    /** Waits without polling: between tries of a commit or an abort, when the transaction must be settled first. */
    private void backOff(int failures) {
        long delay = backoffNanos(failures);
        try {
            TimeUnit.NANOSECONDS.sleep(delay);
        } catch (InterruptedException e) {
            running = false;
            Thread.currentThread().interrupt();
        }
    }

    /** Transactions committed so far. */
    public long committedTransactions() {
        return committedTransactions.get();
    }

    /** Transactions aborted so far (each batch that failed, once per attempt). */
    public long abortedTransactions() {
        return abortedTransactions.get();
    }

    /** Commits of a transaction tried again because the previous try timed out. */
    public long commitRetries() {
        return commitRetries.get();
    }

    /** Partitions lost because this member was dropped from the group (late polls, an outage), so far. */
    public long partitionsLost() {
        return partitionsLost.get();
    }

    /** Input records whose transaction committed. */
    public long processedRecords() {
        return processedRecords.get();
    }

    /** Why the processor stopped by itself (fenced, not authorized, ...), or null. */
    public Throwable failure() {
        return failure;
    }

    public boolean isRunning() {
        return running && thread.isAlive();
    }

    /** Stops after the current transaction (committed or aborted) and closes the clients. */
    @Override
    public void close() {
        running = false;
        consumer.wakeup();
        try {
            thread.join(Duration.ofSeconds(60));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Configures an {@link ExactlyOnceProcessor}. Not thread-safe. */
    public static final class Builder {
        private final KafkaSettings settings;
        private String input;
        private String group;
        private String transactionalId;
        private Transform transform;
        private int maxBatch = 500;
        private Duration backoff = Duration.ofMillis(100);
        private Duration maxBackoff = Duration.ofSeconds(10);
        private StartPosition startFrom = StartPosition.EARLIEST;
        private Runnable beforeCommit = () -> { };

        private Builder(KafkaSettings settings) {
            this.settings = Objects.requireNonNull(settings, "settings");
        }

        /** The topic to consume. */
        public Builder input(String topic) {
            this.input = topic;
            return this;
        }

        /** The consumer group whose offsets commit with the output. */
        public Builder group(String group) {
            this.group = group;
            return this;
        }

        /** The producer's {@code transactional.id}: stable per instance across restarts, unique among instances. */
        public Builder transactionalId(String transactionalId) {
            this.transactionalId = transactionalId;
            return this;
        }

        public Builder transform(Transform transform) {
            this.transform = transform;
            return this;
        }

        /** Records per transaction at most ({@code max.poll.records}; default 500). */
        public Builder maxBatch(int maxBatch) {
            if (maxBatch < 1 || maxBatch > 100_000) {
                throw new IllegalArgumentException("maxBatch must be between 1 and 100000, got " + maxBatch);
            }
            this.maxBatch = maxBatch;
            return this;
        }

        /**
         * First and largest wait before retrying an aborted batch (default 100ms and 10s, doubling, with jitter). The
         * consumer keeps polling, its partitions paused, while it waits, so the member stays in the group however
         * the wait compares with {@code max.poll.interval.ms}. Also the wait between tries of a commit that timed
         * out.
         */
        public Builder backoff(Duration first, Duration max) {
            if (first.isNegative() || first.isZero() || max.compareTo(first) < 0 || max.compareTo(Duration.ofMinutes(4)) > 0) {
                throw new IllegalArgumentException("backoff must satisfy 0 < first <= max <= 4m, got " + first
                        + " and " + max);
            }
            this.backoff = first;
            this.maxBackoff = max;
            return this;
        }

        /** Where a group without committed offsets starts (default earliest). */
        public Builder startFrom(StartPosition startFrom) {
            this.startFrom = Objects.requireNonNull(startFrom, "startFrom");
            return this;
        }

        /** Runs on the processor's thread after a batch's offsets joined its transaction, before the commit (tests). */
        Builder beforeCommit(Runnable hook) {
            this.beforeCommit = Objects.requireNonNull(hook, "hook");
            return this;
        }

        /** Creates the clients and starts processing on a thread of its own. */
        public ExactlyOnceProcessor start() {
            require(input, "input");
            require(group, "group");
            require(transactionalId, "transactionalId");
            Objects.requireNonNull(transform, "transform");
            ExactlyOnceProcessor p = new ExactlyOnceProcessor(this);
            p.thread.start();
            return p;
        }

        private static void require(String value, String what) {
            if (value == null || value.isBlank()) {
                throw new IllegalArgumentException("ExactlyOnceProcessor needs a " + what + ", got '" + value + "'");
            }
        }
    }
}
