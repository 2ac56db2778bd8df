package io.sluice.memory;

import io.sluice.Message;

import java.util.Arrays;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A topic of the memory transport: fixed partitions, its consumer groups, and the consumers to wake when messages
 * arrive. Thread-safe.
 */
final class MemoryTopic {
    final String name;
    final MemoryPartition[] partitions;
    private final AtomicInteger roundRobin = new AtomicInteger();
    private final ConcurrentHashMap<String, MemoryGroup> groups = new ConcurrentHashMap<>();
    /** Copy-on-write so that publishing reads it without a lock or an iterator. */
    private volatile MemoryConsumer[] consumers = new MemoryConsumer[0];

    MemoryTopic(String name, int partitionCount) {
        this.name = name;
        this.partitions = new MemoryPartition[partitionCount];
        for (int i = 0; i < partitionCount; i++) {
            partitions[i] = new MemoryPartition();
        }
    }

    /** Keyed messages go to the partition of their key's hash; keyless ones round-robin. */
    int partitionFor(Message message) {
        String key = message.key();
        if (key == null) {
            return Math.floorMod(roundRobin.getAndIncrement(), partitions.length);
        }
        int h = key.hashCode();
        return Math.floorMod(h ^ (h >>> 16), partitions.length);
    }

    long append(int partition, Message message) {
        long offset = partitions[partition].append(message);
        for (MemoryConsumer c : consumers) {
            c.waiter.signal();
        }
        return offset;
    }

    MemoryGroup group(String group) {
        return groups.computeIfAbsent(group, g -> new MemoryGroup(this, g));
    }

    MemoryGroup existingGroup(String group) {
        return groups.get(group);
    }

    synchronized void register(MemoryConsumer consumer) {
        MemoryConsumer[] c = Arrays.copyOf(consumers, consumers.length + 1);
        c[c.length - 1] = consumer;
        consumers = c;
    }

    synchronized void unregister(MemoryConsumer consumer) {
        consumers = Arrays.stream(consumers).filter(c -> c != consumer).toArray(MemoryConsumer[]::new);
    }
}
