package io.sluice.memory;

import io.sluice.Message;
import io.sluice.PublishException;
import io.sluice.Receipt;
import io.sluice.spi.Acknowledgement;
import io.sluice.spi.ConsumerSpec;
import io.sluice.spi.PartitionListener;
import io.sluice.spi.Transport;
import io.sluice.spi.TransportCapabilities;
import io.sluice.spi.TransportConsumer;
import io.sluice.spi.TransportProducer;

import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The in-process transport: partitioned topics in the heap, consumer groups that split partitions and rebalance as
 * members come and go, committed offsets per group. Not durable: everything is gone when the process ends, and
 * every message stays in memory until then. For tests, demos, and as the reference implementation of the SPI.
 *
 * <p>Thread-safe.
 */
public final class MemoryTransport implements Transport {
    private final int defaultPartitions;
    private final int maxMessageBytes;
    private final ConcurrentHashMap<String, MemoryTopic> topics = new ConcurrentHashMap<>();
    private final TransportProducer producer = this::send;

    /**
     * @param defaultPartitions partitions of a topic created on first use
     * @param maxMessageBytes   the largest message accepted
     */
    public MemoryTransport(int defaultPartitions, int maxMessageBytes) {
        this.defaultPartitions = defaultPartitions;
        this.maxMessageBytes = maxMessageBytes;
    }

    @Override
    public String name() {
        return "memory";
    }

    @Override
    public TransportCapabilities capabilities() {
        return new TransportCapabilities(false, true, true, Acknowledgement.OFFSETS, false, false, false,
                maxMessageBytes, true); // a commit is a write to memory
    }

    @Override
    public TransportProducer producer() {
        return producer;
    }

    private CompletableFuture<Receipt> send(String topicName, Message message) {
        int size = message.estimatedSize();
        if (size > maxMessageBytes) {
            return CompletableFuture.failedFuture(new PublishException("message " + message.id() + " of " + size
                    + " bytes is larger than memory.maxMessageBytes=" + maxMessageBytes + "; not published to "
                    + topicName));
        }
        MemoryTopic topic = topic(topicName);
        int partition = topic.partitionFor(message);
        long offset = topic.append(partition, message);
        return CompletableFuture.completedFuture(new Receipt(topicName, partition, offset, message.id()));
    }

    @Override
    public TransportConsumer consumer(ConsumerSpec spec, PartitionListener listener) {
        return new MemoryConsumer(topic(spec.topic()), spec, listener);
    }

    @Override
    public OptionalLong committedOffset(String topicName, String group, int partition) {
        MemoryTopic topic = topics.get(topicName);
        MemoryGroup g = topic == null ? null : topic.existingGroup(group);
        long committed = g == null ? -1 : g.committed(partition);
        return committed < 0 ? OptionalLong.empty() : OptionalLong.of(committed);
    }

    /** Messages stored in {@code partition} of {@code topic} so far. */
    public long endOffset(String topicName, int partition) {
        MemoryTopic topic = topics.get(topicName);
        return topic == null ? 0 : topic.partitions[partition].size();
    }

    /** Partitions of {@code topic}, creating it if needed. */
    public int partitions(String topicName) {
        return topic(topicName).partitions.length;
    }

    private MemoryTopic topic(String name) {
        return topics.computeIfAbsent(name, n -> new MemoryTopic(n, defaultPartitions));
    }

    @Override
    public void close() {
        topics.clear();
    }
}
