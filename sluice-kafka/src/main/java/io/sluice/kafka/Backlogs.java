package io.sluice.kafka;

import io.sluice.Message;
import io.sluice.spi.RecordSink;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.IntSupplier;
import java.util.function.ToIntFunction;

/**
 * The records a {@link KafkaTransportConsumer} fetched and has not handed to the engine yet, per partition, and the
 * turn order in which partitions hand them over. Kafka returns whole fetches; what does not fit the engine's room
 * waits here (the consumer pauses those partitions meanwhile), never more than one fetch per partition.
 *
 * <p>Threads: owned by the consumer's owner thread.
 */
final class Backlogs {
    /** In turn order: a partition that hands a record over moves to the end, so scarce room goes round. */
    private final Map<TopicPartition, Backlog> backlogs = new LinkedHashMap<>();
    private final List<TopicPartition> servedThisPoll = new ArrayList<>();
    private final KafkaRecords.Decoder decoder;
    private final ToIntFunction<TopicPartition> sourceId;
    /** Partitions the engine paused: their records stay here until resumed. A view the consumer keeps. */
    private final Set<TopicPartition> held;
    /** Partitions of the topic assigned now, over which each poll's room is shared. */
    private final IntSupplier assignedCount;

    Backlogs(KafkaRecords.Decoder decoder, ToIntFunction<TopicPartition> sourceId, Set<TopicPartition> held,
             IntSupplier assignedCount) {
        this.decoder = decoder;
        this.sourceId = sourceId;
        this.held = held;
        this.assignedCount = assignedCount;
    }

    boolean isEmpty() {
        return backlogs.isEmpty();
    }

    /** The partitions with a backlog (a live view). */
    Set<TopicPartition> partitions() {
        return backlogs.keySet();
    }

    boolean has(TopicPartition tp) {
        return backlogs.containsKey(tp);
    }

    /** Records waiting for {@code tp}. */
    int size(TopicPartition tp) {
        Backlog b = backlogs.get(tp);
        return b == null ? 0 : b.records.size();
    }

    /** The backlog of {@code tp}, made (last in turn) if it has none. */
    Backlog of(TopicPartition tp) {
        return backlogs.computeIfAbsent(tp, k -> new Backlog());
    }

    /** Drops the backlog of a partition given up: the next owner fetches its records again. */
    void remove(TopicPartition tp) {
        backlogs.remove(tp);
    }

    /**
     * Hands over backlogged records while they fit, one partition after another a record at a time, each partition
     * at most its share of this poll: records of one partition share its keys, so spreading the engine's in-flight
     * room over partitions gives it more distinct keys to run in parallel. Partitions served go to the back of the
     * turn order: when the engine frees a slot or two per poll, they go round rather than always to the first.
     *
     * @return true if a deliverable record did not fit the byte budget (so nothing more should be fetched now)
     */
    boolean drain(PollBudget budget, RecordSink sink) {
        if (backlogs.isEmpty()) {
            return false;
        }
        long now = System.currentTimeMillis();
        for (Backlog b : backlogs.values()) {
            b.handedThisPoll = 0;
        }
        int share = budget.share(assignedCount.getAsInt());
        servedThisPoll.clear();
        try {
            return drain(budget, sink, now, share);
        } finally {
            for (TopicPartition tp : servedThisPoll) {
                Backlog b = backlogs.remove(tp);
                if (b != null) {
                    backlogs.put(tp, b);
                }
            }
        }
    }

    private boolean drain(PollBudget budget, RecordSink sink, long now, int share) {
        boolean progress = true;
        while (progress && budget.hasRoom()) {
            progress = false;
            Iterator<Map.Entry<TopicPartition, Backlog>> it = backlogs.entrySet().iterator();
            while (it.hasNext() && budget.hasRoom()) {
                Map.Entry<TopicPartition, Backlog> e = it.next();
                Backlog b = e.getValue();
                if (b.handedThisPoll >= share || held.contains(e.getKey())) {
                    continue;
                }
                b.decodeHead(decoder);
                if (b.headDue > now) {
                    continue; // a delay tier's head is not due yet: the whole partition waits
                }
                int size = b.decodedHead.estimatedSize();
                if (!budget.fits(size)) {
                    // Later, smaller records of other partitions would always fill the room this one needs.
                    return true;
                }
                ConsumerRecord<byte[], byte[]> r = b.records.poll();
                sink.accept(b.decodedHead, sourceId.applyAsInt(e.getKey()), r.offset(), size, b.headAttempts + 1, null);
                budget.take(size);
                b.decodedHead = null;
                if (b.handedThisPoll++ == 0) {
                    servedThisPoll.add(e.getKey());
                }
                progress = true;
                if (b.records.isEmpty()) {
                    it.remove();
                }
            }
        }
        return false;
    }

    /** Fetched records of one partition not yet handed to the engine, oldest first; the head decoded once. */
    static final class Backlog {
        final ArrayDeque<ConsumerRecord<byte[], byte[]>> records = new ArrayDeque<>();
        int handedThisPoll;
        String idPrefix;
        Message decodedHead;
        int headAttempts;
        long headDue;

        void add(ConsumerRecord<byte[], byte[]> r) {
            records.add(r);
        }

        void decodeHead(KafkaRecords.Decoder decoder) {
            if (decodedHead == null) {
                ConsumerRecord<byte[], byte[]> head = records.peek();
                if (idPrefix == null) {
                    idPrefix = KafkaRecords.Decoder.idPrefix(head.topic(), head.partition());
                }
                decoder.decode(head, idPrefix);
                decodedHead = decoder.message;
                headAttempts = decoder.attemptsMade;
                headDue = decoder.dueMillis;
            }
        }
    }
}
