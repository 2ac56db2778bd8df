package io.sluice.kafka;

import io.sluice.SluiceException;
import io.sluice.spi.Acknowledgement;
import io.sluice.spi.ConsumerSpec;
import io.sluice.spi.PartitionListener;
import io.sluice.spi.Transport;
import io.sluice.spi.TransportCapabilities;
import io.sluice.spi.TransportConsumer;
import io.sluice.spi.TransportProducer;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The Kafka transport ({@code transport: kafka}): one shared producer (idempotent unless configured otherwise,
 * {@code acks=all} always), a consumer per subscription, an admin client for committed offsets and delay-tier topics.
 * Clients connect lazily, on first use; their configuration was checked when the settings were built.
 *
 * <p>Capabilities: durable, at-least-once, ordered per partition, offset commits; native delayed redelivery when
 * {@code kafka.delayTiers} is set; no broker-side deduplication by message id (the idempotent producer only removes
 * duplicates of its own retries).
 *
 * <p>Thread-safe.
 */
public final class KafkaTransport implements Transport {
    private static final AtomicInteger INSTANCES = new AtomicInteger();
    private static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(30);
    private static final long ADMIN_TIMEOUT_SECONDS = 30;

    private final KafkaSettings settings;
    private final String instance;
    private final ReentrantLock lock = new ReentrantLock();
    private final Set<String> tierTopicsReady = ConcurrentHashMap.newKeySet();
    private volatile KafkaSender sender;
    private volatile Admin admin;
    private volatile boolean closed;

    /** A transport with these settings; it connects on first use. */
    public KafkaTransport(KafkaSettings settings) {
        this.settings = settings;
        this.instance = Integer.toString(INSTANCES.incrementAndGet());
    }

    /** The validated {@code kafka:} settings this transport was built with. */
    public KafkaSettings settings() {
        return settings;
    }

    @Override
    public String name() {
        return "kafka";
    }

    @Override
    public TransportCapabilities capabilities() {
        return new TransportCapabilities(true, true, true, Acknowledgement.OFFSETS, !settings.delayTiers().isEmpty(),
                false, false, -1);
    }

    @Override
    public TransportProducer producer() {
        return sender();
    }

    KafkaSender sender() {
        KafkaSender s = sender;
        if (s == null) {
            lock.lock();
            try {
                checkOpen();
                if (sender == null) {
                    sender = new KafkaSender(settings, "producer-" + instance, this::admin);
                }
                s = sender;
            } finally {
                lock.unlock();
            }
        }
        return s;
    }

    /** The admin client (created on first use, closed with the transport), for topic administration. */
    public Admin admin() {
        Admin a = admin;
        if (a == null) {
            lock.lock();
            try {
                checkOpen();
                if (admin == null) {
                    admin = Admin.create(settings.admin("admin-" + instance));
                }
                a = admin;
            } finally {
                lock.unlock();
            }
        }
        return a;
    }

    @Override
    public TransportConsumer consumer(ConsumerSpec spec, PartitionListener listener) {
        checkOpen();
        if (!settings.delayTiers().isEmpty()) {
            ensureTierTopics(spec.topic());
        }
        return new KafkaTransportConsumer(settings, settings.delayTiers().isEmpty() ? null : sender(), this::admin,
                spec, listener);
    }

    /**
     * Creates the delay-tier topics of {@code topic} that do not exist yet, with the topic's partition count (or the
     * broker's default when the topic does not exist either). Fails for a topic of more than
     * {@link KafkaTransportConsumer#TIER_STRIDE} partitions, which tiers do not support.
     */
    private void ensureTierTopics(String topic) {
        if (tierTopicsReady.contains(topic)) {
            return;
        }
        DelayTiers tiers = settings.delayTiers();
        Optional<Integer> partitions = Optional.empty();
        try {
            TopicDescription d = admin().describeTopics(List.of(topic)).allTopicNames()
                    .get(ADMIN_TIMEOUT_SECONDS, TimeUnit.SECONDS).get(topic);
            partitions = Optional.of(d.partitions().size());
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof UnknownTopicOrPartitionException)) {
                throw new SluiceException("describing Kafka topic " + topic + " failed: " + e.getCause().getMessage(),
                        e.getCause());
            }
        } catch (Exception e) {
            throw adminFailure("describing Kafka topic " + topic, e);
        }
        if (partitions.isPresent() && partitions.get() > KafkaTransportConsumer.TIER_STRIDE) {
            throw new SluiceException("Kafka topic " + topic + " has " + partitions.get() + " partitions; with "
                    + "kafka.delayTiers " + settings.delayTiers() + " a topic may have at most "
                    + KafkaTransportConsumer.TIER_STRIDE + " (the consumer numbers the partitions of the topic and "
                    + "of each tier in strides of " + KafkaTransportConsumer.TIER_STRIDE + "); use fewer partitions "
                    + "or remove kafka.delayTiers");
        }
        List<NewTopic> topics = new ArrayList<>();
        for (int i = 0; i < tiers.size(); i++) {
            topics.add(new NewTopic(tiers.topic(topic, i), partitions, Optional.empty()));
        }
        var result = admin().createTopics(topics).values();
        for (var e : result.entrySet()) {
            try {
                e.getValue().get(ADMIN_TIMEOUT_SECONDS, TimeUnit.SECONDS);
            } catch (ExecutionException ex) {
                if (!(ex.getCause() instanceof TopicExistsException)) {
                    throw new SluiceException("creating delay-tier topic " + e.getKey() + " failed: "
                            + ex.getCause().getMessage(), ex.getCause());
                }
            } catch (Exception ex) {
                throw adminFailure("creating delay-tier topic " + e.getKey(), ex);
            }
        }
        tierTopicsReady.add(topic);
    }

    @Override
    public OptionalLong committedOffset(String topic, String group, int partition) {
        try {
            Map<TopicPartition, OffsetAndMetadata> offsets = admin().listConsumerGroupOffsets(group)
                    .partitionsToOffsetAndMetadata().get(ADMIN_TIMEOUT_SECONDS, TimeUnit.SECONDS);
            OffsetAndMetadata o = offsets.get(new TopicPartition(topic, partition));
            return o == null ? OptionalLong.empty() : OptionalLong.of(o.offset());
        } catch (Exception e) {
            throw adminFailure("reading committed offsets of group " + group, e);
        }
    }

    private static SluiceException adminFailure(String what, Exception e) {
        if (e instanceof InterruptedException) {
            Thread.currentThread().interrupt();
        }
        Throwable cause = e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
        return new SluiceException(what + " failed: " + cause, cause);
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("the Kafka transport is closed");
        }
    }

    @Override
    public void close() {
        KafkaSender s;
        Admin a;
        lock.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            s = sender;
            a = admin;
        } finally {
            lock.unlock();
        }
        if (s != null) {
            s.close(CLOSE_TIMEOUT);
        }
        if (a != null) {
            a.close(CLOSE_TIMEOUT);
        }
    }

    @Override
    public String toString() {
        return "KafkaTransport{" + settings + '}';
    }
}
