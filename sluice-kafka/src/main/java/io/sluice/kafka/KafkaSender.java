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
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicIntegerFieldUpdater;
import java.util.concurrent.locks.ReentrantLock;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Supplier;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;

/**
 * The transport's producer: one {@link KafkaProducer} ({@code acks=all}, idempotent by default) shared by publishers
 * and delay-tier hand-offs.
 *
 * <p>First publish to a topic. Before a topic's first send the producer must fetch its metadata (Kafka blocks
 * {@code send} for up to {@code max.block.ms} for it, inside a {@code synchronized} wait that pins a virtual thread's
 * carrier on JDK 21) and the transport waits for its partition leaders (see {@link #awaitLeaders}). Neither happens on
 * the caller's thread: sends to a topic not ready yet queue on a {@link TopicOpening}, whose platform thread does the
 * waiting and then sends them in the order they came; a send still queued when its timeout (the publisher's
 * {@code publishTimeout}) passes fails with a {@link PublishException} and is never sent. Once a topic is ready,
 * sends go straight to the producer on the caller's thread (its metadata is kept: {@code metadata.max.idle.ms}).
 *
 * <p>Thread-safe. Threads: callers' (send), the producer's network thread (completes futures; callers must not block
 * in callbacks), one platform thread per topic being opened, and one timer thread failing queued sends at their
 * deadline.
 */
final class KafkaSender implements TransportProducer {
    private static final Logger log = LoggerFactory.getLogger(KafkaSender.class);
    private static final long LEADER_WAIT_NANOS = TimeUnit.SECONDS.toNanos(30);

    private final KafkaProducer<byte[], byte[]> producer;
    private final KafkaSettings settings;
    private final Supplier<Admin> admin;
    /** Topics whose partition leaders have answered; the rest get {@link #awaitLeaders} before their first send. */
    private final Set<String> readyTopics = ConcurrentHashMap.newKeySet();
    /** Topics not ready yet with sends waiting for them; an entry stays once made (one per topic ever opened). */
    private final Map<String, TopicOpening> openings = new ConcurrentHashMap<>();
    /** Threads that wait for topics to become ready: platform threads (they block in Kafka's monitors). */
    private final ExecutorService openers;
    /** Fails queued sends whose timeout passed while their topic was still being opened. */
    private final ScheduledThreadPoolExecutor deadlines;

    KafkaSender(KafkaSettings settings, String clientIdSuffix, Supplier<Admin> admin) {
        this.settings = settings;
        this.admin = admin;
        this.producer = new KafkaProducer<>(settings.producer(clientIdSuffix));
        this.openers = Executors.newCachedThreadPool(Thread.ofPlatform().daemon(true)
                .name("sluice-kafka-open-topic-" + clientIdSuffix + "-", 0).factory());
        this.deadlines = new ScheduledThreadPoolExecutor(1, Thread.ofPlatform().daemon(true)
                .name("sluice-kafka-publish-deadline-" + clientIdSuffix).factory());
        deadlines.setRemoveOnCancelPolicy(true);
    }

    @Override
    public CompletableFuture<Receipt> send(String topic, Message message) {
        return send(KafkaRecords.toRecord(topic, message), message, settings.deliveryTimeout());
    }

    @Override
    public CompletableFuture<Receipt> send(String topic, Message message, Duration timeout) {
        // publishTimeout 0 means "never wait for room"; it cannot mean "fail every first publish to a topic".
        Duration bound = timeout.isZero() || timeout.isNegative() ? settings.deliveryTimeout() : timeout;
        return send(KafkaRecords.toRecord(topic, message), message, bound);
    }

    /** Sends a prepared record of {@code message}; the receipt names the record's topic. */
    CompletableFuture<Receipt> send(ProducerRecord<byte[], byte[]> record, Message message) {
        return send(record, message, settings.deliveryTimeout());
    }

    private CompletableFuture<Receipt> send(ProducerRecord<byte[], byte[]> record, Message message,
                                            Duration timeout) {
        Sent sent = new Sent(record.topic(), message, record);
        if (readyTopics.contains(record.topic())
                || !openings.computeIfAbsent(record.topic(), TopicOpening::new).enqueue(sent, timeout)) {
            sendNow(sent);
        }
        return sent;
    }

    /** Hands {@code sent} to the producer, whose metadata for its topic is known: does not wait for metadata. */
    private void sendNow(Sent sent) {
        try {
            producer.send(sent.record, sent);
        } catch (KafkaException | IllegalStateException e) {
            sent.onCompletion(null, e);
        }
    }

    /**
     * The sends waiting for one topic to become ready, and the task that makes it ready. At most one task runs per
     * topic; it sends the waiting records in order and marks the topic ready only once none is left, under the same
     * lock as {@link #enqueue}, so a send that finds the topic ready never overtakes a queued one. A
     * {@link ReentrantLock}, not a monitor: callers may be virtual threads.
     */
    private final class TopicOpening implements Runnable {
        private final String topic;
        private final ReentrantLock lock = new ReentrantLock();
        private ArrayDeque<Sent> waiting = new ArrayDeque<>();
        private boolean running;

        TopicOpening(String topic) {
            this.topic = topic;
        }

        /** Queues {@code sent} until the topic is ready; false if it is ready now (send it directly). */
        boolean enqueue(Sent sent, Duration timeout) {
            try {
                // Armed before the send is queued, so whoever claims it later finds its deadline to cancel.
                sent.deadline = deadlines.schedule(() -> expire(sent, timeout), timeout.toNanos(),
                        TimeUnit.NANOSECONDS);
            } catch (RejectedExecutionException e) {
                failClosed(sent, e);
                return true;
            }
            boolean start = false;
            lock.lock();
            try {
                if (readyTopics.contains(topic)) {
                    sent.deadline.cancel(false);
                    return false;
                }
                waiting.add(sent);
                if (!running) {
                    running = true;
                    start = true;
                }
            } finally {
                lock.unlock();
            }
            if (start) {
                try {
                    openers.execute(this);
                } catch (RejectedExecutionException e) {
                    giveUpOrRetry(new IllegalStateException("the Kafka transport is closed", e));
                }
            }
            return true;
        }

        private void failClosed(Sent sent, Exception e) {
            if (sent.claim()) {
                sent.completeExceptionally(new PublishException("publish of message " + sent.message.id()
                        + " to Kafka topic " + topic + " failed: the Kafka transport is closed", e));
            }
        }

        private void expire(Sent sent, Duration timeout) {
            if (sent.claim()) {
                sent.completeExceptionally(new PublishException("publish of message " + sent.message.id()
                        + " to Kafka topic " + topic + " failed: the topic's metadata did not arrive within the "
                        + "publish timeout (publisher.publishTimeout=" + io.sluice.config.Durations.format(timeout)
                        + "); the message was not sent. The brokers at " + settings.bootstrapServers()
                        + " cannot be reached, or the topic does not exist and the brokers do not create topics "
                        + "(auto.create.topics.enable=false)"));
            }
        }

        @Override
        public void run() {
            while (true) {
                RuntimeException failure = null;
                try {
                    awaitLeaders(topic);
                } catch (RuntimeException e) {
                    failure = e;
                }
                if (failure == null) {
                    sendWaiting();
                    return;
                }
                if (!giveUpOrRetry(failure)) {
                    return;
                }
            }
        }

        /** Sends the queued records in order until none is left, then marks the topic ready. */
        private void sendWaiting() {
            while (true) {
                ArrayDeque<Sent> batch;
                lock.lock();
                try {
                    if (waiting.isEmpty()) {
                        readyTopics.add(topic);
                        running = false;
                        return;
                    }
                    batch = waiting;
                    waiting = new ArrayDeque<>();
                } finally {
                    lock.unlock();
                }
                for (Sent sent : batch) {
                    if (sent.claim()) {
                        sent.deadline.cancel(false);
                        sendNow(sent);
                    }
                }
            }
        }

        /**
         * After a failed attempt to open the topic: a failure that cannot pass (not authorized, an invalid topic
         * name, the producer closed) fails every queued send; otherwise the queued sends whose deadline has not
         * passed are kept and the topic is tried again.
         *
         * @return true to try again
         */
        private boolean giveUpOrRetry(RuntimeException failure) {
            boolean retry = failure instanceof RetriableException;
            ArrayDeque<Sent> failed = new ArrayDeque<>();
            lock.lock();
            try {
                if (!retry) {
                    failed = waiting;
                    waiting = new ArrayDeque<>();
                } else {
                    waiting.removeIf(Sent::isDone); // failed at their deadline already
                }
                if (waiting.isEmpty()) {
                    running = false;
                    retry = false;
                }
            } finally {
                lock.unlock();
            }
            for (Sent sent : failed) {
                if (sent.claim()) {
                    sent.deadline.cancel(false);
                    sent.onCompletion(null, failure);
                }
            }
            if (retry) {
                log.debug("Kafka topic {} not ready yet; trying again for the publishes waiting for it", topic,
                        failure);
            }
            return retry;
        }
    }

    /**
     * Waits (once per topic, up to 30 s) until every partition's leader answers. An idempotent producer that
     * pipelines batches into a partition whose leader is still being elected — a topic created a moment ago — can
     * retry {@code OUT_OF_ORDER_SEQUENCE_NUMBER} until its delivery timeout (KAFKA-14359): the first batch fails with
     * NOT_LEADER, a later one is accepted as the partition's first, and the retried first batch never fits again.
     * Runs on a {@link TopicOpening}'s thread; throws what {@code partitionsFor} throws when the metadata does not
     * come (a {@link RetriableException} after {@code max.block.ms} when the brokers cannot be reached).
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
                return;
            } catch (ExecutionException | TimeoutException e) {
                boolean retriable = e instanceof TimeoutException || e.getCause() instanceof RetriableException;
                if (!retriable || System.nanoTime() - deadline > 0) {
                    // Not allowed to list offsets (no DESCRIBE on the topic), or still no leader: send anyway.
                    log.debug("Leaders of topic {} not confirmed; sending anyway", topic, e);
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
        // Interrupts topic openings still waiting: their queued sends fail (the producer is closing).
        openers.shutdownNow();
        producer.close(timeout);
        deadlines.shutdownNow();
        for (TopicOpening opening : openings.values()) {
            opening.giveUpOrRetry(new IllegalStateException("the Kafka transport closed before the topic's "
                    + "metadata arrived; the message was not sent"));
        }
    }

    /** The future of one send, and its completion callback: one allocation per send. */
    private final class Sent extends CompletableFuture<Receipt> implements Callback {
        private static final AtomicIntegerFieldUpdater<Sent> CLAIMED =
                AtomicIntegerFieldUpdater.newUpdater(Sent.class, "claimed");
        private final String topic;
        private final Message message;
        private final ProducerRecord<byte[], byte[]> record;
        /** 1 once a queued send is either handed to the producer or failed at its deadline: exactly one wins. */
        private volatile int claimed;
        /** Set for a queued send: the timer task failing it at its deadline. */
        ScheduledFuture<?> deadline;

        Sent(String topic, Message message, ProducerRecord<byte[], byte[]> record) {
            this.topic = topic;
            this.message = message;
            this.record = record;
        }

        boolean claim() {
            return CLAIMED.compareAndSet(this, 0, 1);
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
