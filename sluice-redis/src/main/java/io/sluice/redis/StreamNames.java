package io.sluice.redis;

import java.util.concurrent.ConcurrentHashMap;

/**
 * The Redis keys of topics and groups: partition {@code p} of topic {@code t} is the stream {@code <prefix>t:p}; the
 * members of group {@code g} are the sorted set {@code <prefix>t:group:g:members}, and the lease of partition
 * {@code p} the string {@code <prefix>t:group:g:lease:p}; its delayed redeliveries the sorted set
 * {@code <prefix>t:group:g:delayed:p} and the hash {@code <prefix>t:group:g:delayed-attempts:p}.
 *
 * <p>Thread-safe; the stream names of a topic are computed once and cached.
 */
final class StreamNames {
    private final String prefix;
    private final int partitions;
    private final ConcurrentHashMap<String, String[]> streams = new ConcurrentHashMap<>();

    StreamNames(String prefix, int partitions) {
        this.prefix = prefix;
        this.partitions = partitions;
    }

    /** The partition streams of {@code topic}, indexed by partition; the caller must not modify the array. */
    String[] streams(String topic) {
        String[] s = streams.get(topic);
        if (s == null) {
            s = streams.computeIfAbsent(topic, t -> {
                String[] names = new String[partitions];
                for (int p = 0; p < partitions; p++) {
                    names[p] = prefix + t + ":" + p;
                }
                return names;
            });
        }
        return s;
    }

    String members(String topic, String group) {
        return prefix + topic + ":group:" + group + ":members";
    }

    /** Per partition: the sorted set of the topic's delayed publishes (key of each message's hash, by due time). */
    String[] publishSchedules(String topic) {
        String[] names = new String[partitions];
        for (int p = 0; p < partitions; p++) {
            names[p] = prefix + topic + ":scheduled:" + p;
        }
        return names;
    }

    /** Per partition: the sorted set of the group's delayed redeliveries (entry id scored by due time, ms). */
    String[] schedules(String topic, String group) {
        String[] names = new String[partitions];
        for (int p = 0; p < partitions; p++) {
            names[p] = prefix + topic + ":group:" + group + ":delayed:" + p;
        }
        return names;
    }

    /** Per partition: the hash of the handler attempts made by each delayed entry, by entry id. */
    String[] scheduleAttempts(String topic, String group) {
        String[] names = new String[partitions];
        for (int p = 0; p < partitions; p++) {
            names[p] = prefix + topic + ":group:" + group + ":delayed-attempts:" + p;
        }
        return names;
    }

    String[] leases(String topic, String group) {
        String[] names = new String[partitions];
        for (int p = 0; p < partitions; p++) {
            names[p] = prefix + topic + ":group:" + group + ":lease:" + p;
        }
        return names;
    }
}
