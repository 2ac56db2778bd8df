package io.sluice.kafka;

import io.sluice.Message;
import io.sluice.config.StartPosition;
import io.sluice.spi.ConsumerSpec;
import io.sluice.spi.PartitionListener;
import io.sluice.spi.RecordSink;
import io.sluice.spi.Redelivery;
import io.sluice.spi.TransientTransportException;
import io.sluice.spi.TransportConsumer;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.RetriableCommitFailedException;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.RebalanceInProgressException;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.errors.WakeupException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * One group member on a Kafka topic (and its delay-tier topics): a {@link KafkaConsumer} with auto-commit off and
 * the cooperative-sticky assignor, adapted to the engine's poll contract.
 *
 * <p>Bounds. Kafka returns whole fetches; records beyond the engine's {@code maxRecords}/{@code maxBytes} are held in
 * a per-partition backlog and that partition is paused, so nothing is fetched for it until the backlog is handed
 * over. When the engine is full it polls with {@code maxRecords == 0}: every assigned partition is paused and
 * {@code poll} still runs, so the member keeps its place in the group and rebalance callbacks run.
 *
 * <p>Rebalance. On revoke (cooperative: only the partitions that move) the engine's listener drains their in-flight
 * work and commits synchronously from inside Kafka's callback; only then does Kafka release them. Backlogged records
 * of revoked partitions were never handed to the engine and are simply dropped: the next owner fetches them again.
 *
 * <p>Delay tiers. Records of {@code <topic>.retry.<delay>} carry their due time; a tier partition whose head is not
 * yet due is held (paused) until it is. Engine partition numbers: the topic's partition {@code p} is {@code p};
 * partition {@code p} of tier {@code i} is {@code (i + 1) * TIER_STRIDE + p}.
 *
 * <p>Threads. Not thread-safe: owned by the subscription's poll thread. {@link #wakeup()} and {@link #lag()} may be
 * called from any thread.
 */
final class KafkaTransportConsumer implements TransportConsumer, ConsumerRebalanceListener {
    private static final Logger log = LoggerFactory.getLogger(KafkaTransportConsumer.class);
    /** Engine partition numbers reserved per delay tier; topics with delay tiers may have this many partitions. */
    static final int TIER_STRIDE = 1024;
    private static final long LAG_REFRESH_NANOS = TimeUnit.MILLISECONDS.toNanos(200);
    private static final Duration SYNC_COMMIT_TIMEOUT = Duration.ofSeconds(30);
    private static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(30);

    private final KafkaConsumer<byte[], byte[]> consumer;
    private final String topic;
    private final String group;
    private final DelayTiers tiers;
    private final String[] tierTopics;
    private final KafkaSender sender;
    private final PartitionListener listener;
    private final KafkaRecords.Decoder decoder = new KafkaRecords.Decoder();
    private final Map<TopicPartition, Backlog> backlogs = new HashMap<>();
    private final Set<TopicPartition> pausedForBacklog = new HashSet<>();
    private final Map<TopicPartition, OffsetAndMetadata> failedCommits = new HashMap<>();
    /** Per partition, the last offset the engine asked to commit, and the last the broker confirmed. */
    private final Map<TopicPartition, Long> requestedCommits = new HashMap<>();
    private final Map<TopicPartition, Long> confirmedCommits = new HashMap<>();
    private final Map<Integer, TopicPartition> byId = new HashMap<>();
    private boolean allPaused;
    /** Partitions of the topic itself (not its delay tiers) assigned now, kept by the rebalance callbacks. */
    private int assignedCount;
    private boolean closing;
    private boolean closed;
    private long nextLagNanos;

    private volatile boolean wakeupRequested;
    private volatile Map<Integer, Long> lag = Map.of();

    KafkaTransportConsumer(KafkaSettings settings, KafkaSender sender, ConsumerSpec spec, PartitionListener listener) {
        this.topic = spec.topic();
        this.group = spec.group();
        this.tiers = settings.delayTiers();
        this.sender = sender;
        this.listener = listener;
        this.tierTopics = new String[tiers.size()];
        List<String> topics = new ArrayList<>(List.of(topic));
        for (int i = 0; i < tiers.size(); i++) {
            tierTopics[i] = tiers.topic(topic, i);
            topics.add(tierTopics[i]);
        }
        this.consumer = new KafkaConsumer<>(settings.consumer(spec.memberId(), spec.group(),
                spec.startFrom() == StartPosition.LATEST));
        consumer.subscribe(topics, this);
    }

    // ------------------------------------------------------------------ poll

    @Override
    public void poll(int maxRecords, long maxBytes, boolean oversizedFirst, long timeoutNanos, RecordSink sink) {
        if (wakeupRequested) {
            wakeupRequested = false;
            timeoutNanos = 0;
        }
        retryFailedCommits();
        if (maxRecords == 0) {
            keepAlive();
            return;
        }
        Budget budget = new Budget(maxRecords, maxBytes, oversizedFirst);
        boolean blocked = drainBacklogs(budget, sink);
        // Fetch while there is room: partitions with a backlog are paused, so each further poll returns other
        // partitions' buffered fetches; the bound keeps one call from looping when little arrives.
        for (int round = 0; !blocked && budget.hasRoom() && round <= assignedCount; round++) {
            fetchOnly();
            ConsumerRecords<byte[], byte[]> records = kafkaPoll(budget.delivered > 0 || round > 0 ? 0 : timeoutNanos);
            if (records.isEmpty()) {
                break;
            }
            for (TopicPartition tp : records.partitions()) {
                accept(tp, records.records(tp), budget, sink);
            }
        }
        refreshLag();
    }

    /** The engine is full: pause everything, and still poll so membership and rebalances go on. */
    private void keepAlive() {
        if (!allPaused) {
            consumer.pause(consumer.assignment());
            allPaused = true;
        }
        ConsumerRecords<byte[], byte[]> records = kafkaPoll(0);
        // Partitions assigned during this poll were not paused in time: keep what they returned for later.
        for (TopicPartition tp : records.partitions()) {
            for (ConsumerRecord<byte[], byte[]> r : records.records(tp)) {
                backlog(tp).add(r);
            }
        }
        refreshLag();
    }

    /** Resumes every partition without a backlog; pauses those with one. */
    private void fetchOnly() {
        if (allPaused) {
            Set<TopicPartition> resume = new HashSet<>(consumer.assignment());
            resume.removeAll(backlogs.keySet());
            consumer.resume(resume);
            allPaused = false;
            pausedForBacklog.clear();
            pausedForBacklog.addAll(backlogs.keySet());
            return;
        }
        if (pausedForBacklog.size() != backlogs.size() || !pausedForBacklog.containsAll(backlogs.keySet())) {
            Set<TopicPartition> resume = new HashSet<>(pausedForBacklog);
            resume.removeAll(backlogs.keySet());
            consumer.resume(resume);
            consumer.pause(backlogs.keySet());
            pausedForBacklog.clear();
            pausedForBacklog.addAll(backlogs.keySet());
        }
    }

    private ConsumerRecords<byte[], byte[]> kafkaPoll(long timeoutNanos) {
        try {
            return consumer.poll(Duration.ofNanos(timeoutNanos));
        } catch (WakeupException e) {
            wakeupRequested = false;
            return ConsumerRecords.empty();
        } catch (RetriableException e) {
            throw new TransientTransportException("polling Kafka topic " + topic + " failed: " + e.getMessage(), e);
        }
    }

    /** Hands records of one partition to the engine while they fit; the rest waits in the partition's backlog. */
    private void accept(TopicPartition tp, List<ConsumerRecord<byte[], byte[]>> records, Budget budget,
                        RecordSink sink) {
        Backlog backlog = backlogs.get(tp);
        int source = sourceId(tp);
        boolean tier = source >= TIER_STRIDE;
        int i = 0;
        int n = records.size();
        if (backlog == null) {
            long now = tier ? System.currentTimeMillis() : 0;
            String idPrefix = KafkaRecords.Decoder.idPrefix(tp.topic(), tp.partition());
            int share = budget.share(assignedCount);
            for (; i < n; i++) {
                ConsumerRecord<byte[], byte[]> r = records.get(i);
                decoder.decode(r, idPrefix);
                if (tier && decoder.dueMillis > now) {
                    break;
                }
                Message m = decoder.message;
                int size = m.estimatedSize();
                if (i >= share || !budget.fits(size)) {
                    break;
                }
                sink.accept(m, source, r.offset(), size, decoder.attemptsMade + 1, null);
                budget.take(size);
            }
            if (i == n) {
                return;
            }
            backlog = backlog(tp);
            backlog.decodedHead = decoder.message;
            backlog.headAttempts = decoder.attemptsMade;
            backlog.headDue = decoder.dueMillis;
        }
        for (; i < n; i++) {
            backlog.add(records.get(i));
        }
    }

    /**
     * Hands over backlogged records while they fit, one partition after another a record at a time, each partition
     * at most its share of this poll: records of one partition share its keys, so spreading the engine's in-flight
     * room over partitions gives it more distinct keys to run in parallel.
     *
     * @return true if a deliverable record did not fit the byte budget (so nothing more should be fetched now)
     */
    private boolean drainBacklogs(Budget budget, RecordSink sink) {
        if (backlogs.isEmpty()) {
            return false;
        }
        long now = System.currentTimeMillis();
        for (Backlog b : backlogs.values()) {
            b.handedThisPoll = 0;
        }
        int share = budget.share(assignedCount);
        boolean progress = true;
        while (progress && budget.hasRoom()) {
            progress = false;
            Iterator<Map.Entry<TopicPartition, Backlog>> it = backlogs.entrySet().iterator();
            while (it.hasNext() && budget.hasRoom()) {
                Map.Entry<TopicPartition, Backlog> e = it.next();
                Backlog b = e.getValue();
                if (b.handedThisPoll >= share) {
                    continue;
                }
                b.decodeHead(decoder);
                if (b.headDue > now) {
                    continue; // a delay tier's head is not due yet: the whole partition waits
                }
                int size = b.decodedHead.estimatedSize();
                if (!budget.fits(size)) {
                    return true;
                }
                ConsumerRecord<byte[], byte[]> r = b.records.poll();
                sink.accept(b.decodedHead, sourceId(e.getKey()), r.offset(), size, b.headAttempts + 1, null);
                budget.take(size);
                b.decodedHead = null;
                b.handedThisPoll++;
                progress = true;
                if (b.records.isEmpty()) {
                    it.remove();
                }
            }
        }
        return false;
    }

    private Backlog backlog(TopicPartition tp) {
        return backlogs.computeIfAbsent(tp, k -> new Backlog());
    }

    /** What one poll may still hand to the engine, in all and per partition. */
    private static final class Budget {
        private final int maxRecords;
        private final long maxBytes;
        private final boolean oversizedFirst;
        int delivered;
        long bytes;

        Budget(int maxRecords, long maxBytes, boolean oversizedFirst) {
            this.maxRecords = maxRecords;
            this.maxBytes = maxBytes;
            this.oversizedFirst = oversizedFirst;
        }

        /**
         * Records one partition may hand over in this poll: an even split of the room over the partitions assigned
         * now (asked at each use, since the first poll's rebalance assigns them).
         */
        int share(int partitions) {
            int p = Math.max(1, partitions);
            return Math.max(1, (maxRecords + p - 1) / p);
        }

        boolean hasRoom() {
            return delivered < maxRecords && bytes < maxBytes;
        }

        boolean fits(int size) {
            if (delivered >= maxRecords) {
                return false;
            }
            return bytes + size <= maxBytes || (oversizedFirst && delivered == 0);
        }

        void take(int size) {
            delivered++;
            bytes += size;
        }
    }

    /** Fetched records of one partition not yet handed to the engine, oldest first; the head decoded once. */
    private static final class Backlog {
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

    // ------------------------------------------------------------------ partitions

    private int sourceId(TopicPartition tp) {
        String t = tp.topic();
        if (t.equals(topic)) {
            return tp.partition();
        }
        for (int i = 0; i < tierTopics.length; i++) {
            if (t.equals(tierTopics[i])) {
                if (tp.partition() >= TIER_STRIDE) {
                    throw new IllegalStateException("delay tier topic " + t + " has more than " + TIER_STRIDE
                            + " partitions; Sluice supports up to " + TIER_STRIDE + " partitions per delay tier");
                }
                return (i + 1) * TIER_STRIDE + tp.partition();
            }
        }
        throw new IllegalStateException("partition " + tp + " does not belong to topic " + topic);
    }

    private TopicPartition topicPartition(int id) {
        TopicPartition tp = byId.get(id);
        if (tp == null) {
            tp = id < TIER_STRIDE ? new TopicPartition(topic, id)
                    : new TopicPartition(tierTopics[id / TIER_STRIDE - 1], id % TIER_STRIDE);
            byId.put(id, tp);
        }
        return tp;
    }

    private List<Integer> ids(Collection<TopicPartition> partitions) {
        List<Integer> ids = new ArrayList<>(partitions.size());
        for (TopicPartition tp : partitions) {
            ids.add(sourceId(tp));
        }
        return ids;
    }

    @Override
    public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
        if (partitions.isEmpty() || closing) {
            return;
        }
        if (allPaused) {
            consumer.pause(partitions);
        }
        assignedCount += countOfTopic(partitions);
        log.info("Topic {} group {}: assigned {}", topic, group, partitions);
        listener.assigned(ids(partitions));
    }

    @Override
    public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
        if (partitions.isEmpty() || closing) {
            return;
        }
        // The engine drains and commits these partitions (commit(sync = true) re-enters this consumer here).
        log.info("Topic {} group {}: revoking {}", topic, group, partitions);
        listener.revoked(ids(partitions));
        commitUnconfirmed(partitions);
        forget(partitions);
    }

    @Override
    public void onPartitionsLost(Collection<TopicPartition> partitions) {
        if (partitions.isEmpty() || closing) {
            return;
        }
        log.warn("Topic {} group {}: lost {} without a chance to commit", topic, group, partitions);
        listener.lost(ids(partitions));
        forget(partitions);
    }

    private int countOfTopic(Collection<TopicPartition> partitions) {
        int n = 0;
        for (TopicPartition tp : partitions) {
            if (tp.topic().equals(topic)) {
                n++;
            }
        }
        return n;
    }

    private void forget(Collection<TopicPartition> partitions) {
        assignedCount = Math.max(0, assignedCount - countOfTopic(partitions));
        for (TopicPartition tp : partitions) {
            requestedCommits.remove(tp);
            confirmedCommits.remove(tp);
            backlogs.remove(tp);
            pausedForBacklog.remove(tp);
            failedCommits.remove(tp);
        }
    }

    // ------------------------------------------------------------------ commit

    @Override
    public void commit(Map<Integer, Long> nextOffsets, boolean sync) {
        Set<TopicPartition> owned = consumer.assignment();
        Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
        for (Map.Entry<Integer, Long> e : nextOffsets.entrySet()) {
            TopicPartition tp = topicPartition(e.getKey());
            if (owned.contains(tp)) {
                offsets.put(tp, new OffsetAndMetadata(e.getValue()));
            }
        }
        if (offsets.isEmpty()) {
            return;
        }
        offsets.forEach((tp, o) -> requestedCommits.merge(tp, o.offset(), Math::max));
        if (!sync) {
            commitAsync(offsets);
            return;
        }
        try {
            commitSync(offsets);
        } catch (WakeupException e) {
            wakeupRequested = true; // the wakeup was meant for poll: keep it for the next one, and finish the commit
            commitSync(offsets);
        }
    }

    private void commitAsync(Map<TopicPartition, OffsetAndMetadata> offsets) {
        consumer.commitAsync(offsets, (committed, error) -> {
            if (error != null) {
                onAsyncCommitFailed(offsets, error);
            } else {
                confirmed(offsets);
            }
        });
    }

    private void confirmed(Map<TopicPartition, OffsetAndMetadata> offsets) {
        offsets.forEach((tp, o) -> confirmedCommits.merge(tp, o.offset(), Math::max));
    }

    /**
     * Commits synchronously what the engine asked to commit on {@code partitions} and the broker has not confirmed:
     * an asynchronous commit fails while the group rebalances, and the engine, which counts it as done, would not
     * ask again before the partitions move.
     */
    private void commitUnconfirmed(Collection<TopicPartition> partitions) {
        Map<TopicPartition, OffsetAndMetadata> unconfirmed = new HashMap<>();
        for (TopicPartition tp : partitions) {
            Long requested = requestedCommits.get(tp);
            if (requested != null && requested > confirmedCommits.getOrDefault(tp, -1L)) {
                unconfirmed.put(tp, new OffsetAndMetadata(requested));
            }
        }
        if (unconfirmed.isEmpty()) {
            return;
        }
        try {
            try {
                commitSync(unconfirmed);
            } catch (WakeupException e) {
                wakeupRequested = true;
                commitSync(unconfirmed);
            }
        } catch (KafkaException e) {
            log.warn("Committing {} of group {} before giving the partitions up failed: {}; the next owner may see "
                    + "their finished records again", unconfirmed, group, e.toString());
        }
    }

    private void commitSync(Map<TopicPartition, OffsetAndMetadata> offsets) {
        try {
            consumer.commitSync(offsets, SYNC_COMMIT_TIMEOUT);
            confirmed(offsets);
            for (TopicPartition tp : offsets.keySet()) {
                failedCommits.remove(tp);
            }
        } catch (RetriableException e) {
            throw new TransientTransportException("committing " + offsets + " of group " + group + " failed: "
                    + e.getMessage(), e);
        }
    }

    private void onAsyncCommitFailed(Map<TopicPartition, OffsetAndMetadata> offsets, Exception error) {
        if (error instanceof RetriableCommitFailedException || error instanceof RetriableException
                || error instanceof RebalanceInProgressException) {
            log.debug("Async commit of {} for group {} failed; retrying on the next poll", offsets, group, error);
            offsets.forEach((tp, o) -> failedCommits.merge(tp, o, (a, b) -> a.offset() >= b.offset() ? a : b));
        } else {
            log.warn("Commit of {} for group {} failed: {}; the next commit of these partitions supersedes it",
                    offsets, group, error.toString());
        }
    }

    private void retryFailedCommits() {
        if (failedCommits.isEmpty()) {
            return;
        }
        Map<TopicPartition, OffsetAndMetadata> retry = new HashMap<>(failedCommits);
        failedCommits.clear();
        retry.keySet().retainAll(consumer.assignment());
        retry.entrySet().removeIf(e -> e.getValue().offset() <= confirmedCommits.getOrDefault(e.getKey(), -1L));
        if (!retry.isEmpty()) {
            commitAsync(retry);
        }
    }

    // ------------------------------------------------------------------ delayed redelivery

    @Override
    public CompletableFuture<Void> redeliverLater(Redelivery r) {
        if (tiers.isEmpty()) {
            return TransportConsumer.super.redeliverLater(r);
        }
        int tier = tiers.tierFor(r.delayNanos());
        long due = System.currentTimeMillis() + tiers.delay(tier).toMillis();
        String tierTopic = tierTopics[tier];
        return sender.send(KafkaRecords.toRecord(tierTopic, r.message(), r.attemptsMade(), due), r.message())
                .thenApply(receipt -> null);
    }

    // ------------------------------------------------------------------ lag, wakeup, close

    private void refreshLag() {
        long now = System.nanoTime();
        if (now - nextLagNanos < 0) {
            return;
        }
        nextLagNanos = now + LAG_REFRESH_NANOS;
        Map<Integer, Long> snapshot = new HashMap<>();
        for (TopicPartition tp : consumer.assignment()) {
            OptionalLong behind = consumer.currentLag(tp);
            if (behind.isPresent()) {
                Backlog b = backlogs.get(tp);
                snapshot.put(sourceId(tp), behind.getAsLong() + (b == null ? 0 : b.records.size()));
            }
        }
        lag = Map.copyOf(snapshot);
    }

    /**
     * Per assigned partition (engine numbering), records not yet handed to the engine: the broker's end offset as of
     * the last fetch minus this member's position, plus its backlog. Refreshed by polls, at most every 200 ms;
     * partitions not fetched yet are absent. Any thread.
     */
    @Override
    public Map<Integer, Long> lag() {
        return lag;
    }

    @Override
    public void wakeup() {
        wakeupRequested = true;
        consumer.wakeup();
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            commitUnconfirmed(consumer.assignment());
        } catch (RuntimeException e) {
            log.debug("Final commit of topic {} group {} failed", topic, group, e);
        }
        closing = true; // leave without handing rebalance callbacks to the engine: nothing new is committed
        try {
            consumer.close(CLOSE_TIMEOUT);
        } catch (WakeupException e) {
            consumer.close(CLOSE_TIMEOUT);
        } catch (KafkaException e) {
            log.warn("Closing the Kafka consumer of topic {} group {} failed", topic, group, e);
        }
    }
}
