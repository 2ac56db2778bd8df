package io.sluice.memory;

import io.sluice.Message;
import io.sluice.spi.support.KeyPartitioner;
import io.sluice.spi.support.PollSignals;

import java.util.concurrent.ConcurrentHashMap;

/**
 * A topic of the memory transport: fixed partitions, its consumer groups, and the consumers to wake when messages
 * arrive. Thread-safe.
 */
final class MemoryTopic {
    final String name;
    final MemoryPartition[] partitions;
    private final KeyPartitioner partitioner;
    private final ConcurrentHashMap<String, MemoryGroup> groups = new ConcurrentHashMap<>();
    /** The consumers to wake when a message arrives. */
    final PollSignals consumers = new PollSignals();

    MemoryTopic(String name, int partitionCount) {
        this.name = name;
        this.partitions = new MemoryPartition[partitionCount];
        this.partitioner = new KeyPartitioner(partitionCount);
        for (int i = 0; i < partitionCount; i++) {
            partitions[i] = new MemoryPartition();
        }
    }

    /** Keyed messages go to the partition of their key's hash; keyless ones round-robin. */
    int partitionFor(Message message) {
        return partitioner.partitionFor(message);
    }

    long append(int partition, Message message) {
        long offset = partitions[partition].append(message);
        consumers.signalAll();
        return offset;
    }

    MemoryGroup group(String group) {
        return groups.computeIfAbsent(group, g -> new MemoryGroup(this, g));
    }

    MemoryGroup existingGroup(String group) {
        return groups.get(group);
    }
}
