package io.sluice.kafka;

import io.sluice.Message;
import io.sluice.config.StartPosition;
import io.sluice.spi.ConsumerSpec;
import io.sluice.spi.PartitionListener;
import io.sluice.spi.RecordSink;
import io.sluice.spi.Redelivery;
import io.sluice.spi.TransientTransportException;
import io.sluice.spi.TransportConsumer;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.errors.WakeupException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Locale;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * One group member on a Kafka topic (and its delay-tier topics): a {@link KafkaConsumer} with auto-commit off and
 * the cooperative-sticky assignor, adapted to the engine's poll contract.
 *
 * <p>Bounds. Kafka returns whole fetches; records beyond the engine's {@code maxRecords}/{@code maxBytes} are held in
 * a per-partition backlog ({@link Backlogs}, which also hands them over in turn) and that partition is paused, so nothing is fetched for it until the backlog is handed
 * over. When the engine is full ({@code maxRecords == 0}), or the next backlogged record does not fit the bytes left,
 * every assigned partition is paused and Kafka's {@code poll} still runs for the engine's timeout, so the member keeps
 * its place in the group, rebalance callbacks run, and the owner thread waits instead of spinning.
 *
 * <p>Pauses. A partition is paused in Kafka for any of four reasons, each kept apart so that lifting one never resumes
 * a partition another still holds: the engine is full (all partitions), the partition has a backlog, the engine asked
 * ({@link #pausePartitions}: its uncommitted window is full), or it is refused (beyond the tier stride). A partition is
 * resumed only when no reason is left. Revoked or lost partitions forget every reason.
 *
 * <p>Rebalance. On revoke (cooperative: only the partitions that move) the engine's listener drains their in-flight
 * work and commits synchronously from inside Kafka's callback; only then does Kafka release them. Backlogged records
 * of revoked partitions were never handed to the engine and are dropped whatever happens in the callback: the next
 * owner fetches them again.
 *
 * <p>Partition numbers. The engine numbers sources with small ints. The topic's partition {@code p} is {@code p};
 * with delay tiers, partition {@code p} of tier {@code i} is {@code (i + 1) * TIER_STRIDE + p}, so with tiers the topic
 * and each tier may have at most {@link #TIER_STRIDE} partitions: partitions beyond that are refused (paused, never
 * handed to the engine) with an error, rather than share the engine's bookkeeping with a tier partition.
 *
 * <p>Commits are the {@link CommitTracker}'s: failed asynchronous commits retried on the next poll, and everything
 * asked for and not confirmed committed synchronously on revoke and close.
 *
 * <p>Delay-tier hand-offs are sent from a thread of their own (one per consumer, started on the first hand-off): the
 * first send to a tier topic waits for its metadata and leaders, and a full producer buffer blocks a send, neither of
 * which may stall the owner thread, possibly inside a rebalance callback. One thread keeps hand-offs in order.
 *
 * <p>Threads. Not thread-safe: owned by the subscription's poll thread. {@link #wakeup()} and {@link #lag()} may be
 * called from any thread. Kafka runs commit callbacks on the owner thread, inside {@code poll} and commits; the
 * admin client's thread records the end offsets it listed for the lag of paused partitions.
 */
final class KafkaTransportConsumer implements TransportConsumer, ConsumerRebalanceListener {
    private static final Logger log = LoggerFactory.getLogger(KafkaTransportConsumer.class);
    /** Engine partition numbers reserved per delay tier; topics with delay tiers may have this many partitions. */
    static final int TIER_STRIDE = 1024;
    private static final long LAG_REFRESH_NANOS = TimeUnit.MILLISECONDS.toNanos(200);
    /** How often the end offsets of paused partitions (which fetch nothing, so learn nothing) are looked up. */
    private static final long END_OFFSETS_REFRESH_NANOS = TimeUnit.SECONDS.toNanos(1);
    private static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(30);

    private final KafkaConsumer<byte[], byte[]> consumer;
    /** Half of {@code max.poll.interval.ms}: how long a revocation may take before the group gives up on us. */
    private final Duration maxRevokeTime;
    private final String topic;
    private final String group;
    private final DelayTiers tiers;
    private final String[] tierTopics;
    private final KafkaSender sender;
    private final Supplier<Admin> admin;
    private final ListOffsetsOptions endOffsetsOptions;
    private final PartitionListener listener;
    private final KafkaRecords.Decoder decoder = new KafkaRecords.Decoder();
    private final Backlogs backlogs;
    private final Set<TopicPartition> pausedForBacklog = new HashSet<>();
    /** Partitions the engine paused ({@link #pausePartitions}); their backlog is held too. */
    private final Set<TopicPartition> pausedByEngine = new HashSet<>();
    private final CommitTracker commits;
    /** Partitions assigned but not handed to the engine (beyond the tier stride); kept paused. */
    private final Set<TopicPartition> refused = new HashSet<>();
    private final Map<Integer, TopicPartition> byId = new HashMap<>();
    private boolean allPaused;
    /** Partitions of the topic itself (not its delay tiers) handed to the engine now, kept by the callbacks. */
    private int assignedCount;
    private boolean closing;
    private boolean closed;
    private long nextLagNanos;
    private long nextEndOffsetsNanos;
    private ExecutorService handOffs;
    /** End offsets of paused partitions as the admin client last listed them; written on its thread. */
    private final Map<TopicPartition, Long> listedEnds = new ConcurrentHashMap<>();
    private volatile boolean endOffsetsPending;

    private volatile boolean wakeupRequested;
    private volatile Map<Integer, Long> lag = Map.of();

    KafkaTransportConsumer(KafkaSettings settings, KafkaSender sender, Supplier<Admin> admin, ConsumerSpec spec,
                           PartitionListener listener) {
        this.topic = spec.topic();
        this.admin = admin;
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
        Map<String, Object> config = settings.consumer(spec.memberId(), spec.group(),
                spec.startFrom() == StartPosition.LATEST);
        // The lag of a paused partition is measured against the end a reader of this isolation level sees.
        this.endOffsetsOptions = new ListOffsetsOptions(IsolationLevel.valueOf(String.valueOf(
                config.get(ConsumerConfig.ISOLATION_LEVEL_CONFIG)).strip().toUpperCase(Locale.ROOT)));
        Object maxPoll = config.get(ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG);
        long maxPollMillis = maxPoll == null ? 300_000 : Long.parseLong(String.valueOf(maxPoll).strip());
        // The revoke callback runs inside poll(): half the poll interval leaves the rest for the commit and the poll.
        this.maxRevokeTime = Duration.ofMillis(Math.max(1, maxPollMillis / 2));
        this.consumer = new KafkaConsumer<>(config);
        this.backlogs = new Backlogs(decoder, this::sourceId, pausedByEngine, () -> assignedCount);
        this.commits = new CommitTracker(consumer, group, settings.syncCommitTimeout(), () -> wakeupRequested = true);
        this.nextLagNanos = System.nanoTime();
        this.nextEndOffsetsNanos = nextLagNanos;
        consumer.subscribe(topics, this);
    }

    // ------------------------------------------------------------------ poll

    @Override
    public void poll(int maxRecords, long maxBytes, boolean oversizedFirst, long timeoutNanos, RecordSink sink) {
        if (wakeupRequested) {
            wakeupRequested = false;
            timeoutNanos = 0;
        }
        commits.retryFailed();
        if (maxRecords == 0) {
            pausedPoll(0);
            return;
        }
        PollBudget budget = new PollBudget(maxRecords, maxBytes, oversizedFirst);
        if (backlogs.drain(budget, sink)) {
            // The next record does not fit the bytes left: nothing can be handed over until the engine finishes
            // something. Wait for that as the engine asked (it wakes this poll), polling Kafka all the while.
            pausedPoll(budget.delivered > 0 ? 0 : timeoutNanos);
            return;
        }
        // Fetch while there is room: partitions with a backlog are paused, so each further poll returns other
        // partitions' buffered fetches; the bound keeps one call from looping when little arrives.
        for (int round = 0; budget.hasRoom() && round <= assignedCount; round++) {
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

    /**
     * Nothing may be handed to the engine now: pause everything and still poll (for up to {@code timeoutNanos}) so
     * membership, heartbeats and rebalances go on.
     */
    private void pausedPoll(long timeoutNanos) {
        if (!allPaused) {
            consumer.pause(consumer.assignment());
            allPaused = true;
        }
        ConsumerRecords<byte[], byte[]> records = kafkaPoll(timeoutNanos);
        // Partitions assigned during this poll are paused by the callback; keep anything that still came for later.
        for (TopicPartition tp : records.partitions()) {
            if (!refused.contains(tp)) {
                for (ConsumerRecord<byte[], byte[]> r : records.records(tp)) {
                    backlogs.of(tp).add(r);
                }
            }
        }
        refreshLag();
    }

    /** Resumes every partition without a backlog; pauses those with one. */
    private void fetchOnly() {
        if (allPaused) {
            Set<TopicPartition> resume = new HashSet<>(consumer.assignment());
            resume.removeAll(backlogs.partitions());
            resume.removeAll(refused);
            resume.removeAll(pausedByEngine);
            consumer.resume(resume);
            allPaused = false;
            pausedForBacklog.clear();
            pausedForBacklog.addAll(backlogs.partitions());
            return;
        }
        if (pausedForBacklog.size() != backlogs.partitions().size() || !pausedForBacklog.containsAll(backlogs.partitions())) {
            Set<TopicPartition> resume = new HashSet<>(pausedForBacklog);
            resume.removeAll(backlogs.partitions());
            resume.removeAll(pausedByEngine);
            consumer.resume(resume);
            consumer.pause(backlogs.partitions());
            pausedForBacklog.clear();
            pausedForBacklog.addAll(backlogs.partitions());
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
    private void accept(TopicPartition tp, List<ConsumerRecord<byte[], byte[]>> records, PollBudget budget,
                        RecordSink sink) {
        if (refused.contains(tp)) {
            return; // paused by the callback; a fetch that raced it is dropped and fetched again if ever resumed
        }
        Backlogs.Backlog backlog = backlogs.has(tp) ? backlogs.of(tp) : null;
        int source = sourceId(tp);
        boolean tier = source >= TIER_STRIDE && tiers.size() > 0;
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
            backlog = backlogs.of(tp);
            backlog.decodedHead = decoder.message;
            backlog.headAttempts = decoder.attemptsMade;
            backlog.headDue = decoder.dueMillis;
        }
        for (; i < n; i++) {
            backlog.add(records.get(i));
        }
    }

    // ------------------------------------------------------------------ partitions

    /** The engine's number for {@code tp}, which must be assigned and not refused. */
    private int sourceId(TopicPartition tp) {
        String t = tp.topic();
        if (t.equals(topic)) {
            return tp.partition();
        }
        for (int i = 0; i < tierTopics.length; i++) {
            if (t.equals(tierTopics[i])) {
                return (i + 1) * TIER_STRIDE + tp.partition();
            }
        }
        throw new IllegalStateException("partition " + tp + " does not belong to topic " + topic);
    }

    private TopicPartition topicPartition(int id) {
        TopicPartition tp = byId.get(id);
        if (tp == null) {
            tp = tierTopics.length == 0 || id < TIER_STRIDE ? new TopicPartition(topic, id)
                    : new TopicPartition(tierTopics[id / TIER_STRIDE - 1], id % TIER_STRIDE);
            byId.put(id, tp);
        }
        return tp;
    }

    /**
     * With delay tiers, engine numbers of the topic and each tier share one int range in strides of
     * {@link #TIER_STRIDE}: a partition at or beyond the stride would share the bookkeeping (and commits) of a tier
     * partition, so it is not consumed.
     */
    private boolean beyondStride(TopicPartition tp) {
        return tierTopics.length > 0 && tp.partition() >= TIER_STRIDE;
    }

    /** {@code partitions} less those refused, as engine numbers. */
    private List<Integer> engineIds(Collection<TopicPartition> partitions) {
        List<Integer> ids = new ArrayList<>(partitions.size());
        for (TopicPartition tp : partitions) {
            if (!refused.contains(tp)) {
                ids.add(sourceId(tp));
            }
        }
        return ids;
    }

    @Override
    public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
        if (partitions.isEmpty() || closing) {
            return;
        }
        List<TopicPartition> beyond = new ArrayList<>();
        for (TopicPartition tp : partitions) {
            if (beyondStride(tp)) {
                beyond.add(tp);
            }
        }
        if (!beyond.isEmpty()) {
            refused.addAll(beyond);
            consumer.pause(beyond);
            log.error("Topic {} group {}: not consuming {}: with kafka.delayTiers a topic and its tiers may have at "
                    + "most {} partitions each. Their records stay in Kafka, uncommitted; use fewer partitions or "
                    + "remove kafka.delayTiers", topic, group, beyond, TIER_STRIDE);
        }
        if (allPaused) {
            consumer.pause(partitions);
        }
        for (TopicPartition tp : partitions) {
            if (!refused.contains(tp)) {
                commits.assigned(tp);
                if (tp.topic().equals(topic)) {
                    assignedCount++;
                }
            }
        }
        log.info("Topic {} group {}: assigned {}", topic, group, partitions);
        List<Integer> ids = engineIds(partitions);
        if (!ids.isEmpty()) {
            listener.assigned(ids);
        }
    }

    @Override
    public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
        if (partitions.isEmpty() || closing) {
            return;
        }
        // The engine drains and commits these partitions (commit(sync = true) re-enters this consumer here). Kafka
        // takes the partitions away whatever happens here, so they are forgotten in any case: a failure escaping
        // this callback would leave their backlog to be handed on, and later pauses and resumes of partitions this
        // member no longer has would fail every poll.
        log.info("Topic {} group {}: revoking {}", topic, group, partitions);
        try {
            List<Integer> ids = engineIds(partitions);
            if (!ids.isEmpty()) {
                listener.revoked(ids);
            }
            commits.commitUnconfirmed(partitions);
        } catch (RuntimeException e) {
            log.error("Topic {} group {}: giving up {} failed; records handed over and not committed will be "
                    + "delivered again to the next owner", topic, group, partitions, e);
        } finally {
            forget(partitions);
        }
    }

    @Override
    public void onPartitionsLost(Collection<TopicPartition> partitions) {
        if (partitions.isEmpty() || closing) {
            return;
        }
        log.warn("Topic {} group {}: lost {} without a chance to commit", topic, group, partitions);
        try {
            List<Integer> ids = engineIds(partitions);
            if (!ids.isEmpty()) {
                listener.lost(ids);
            }
        } catch (RuntimeException e) {
            log.error("Topic {} group {}: abandoning the work of lost partitions {} failed", topic, group,
                    partitions, e);
        } finally {
            forget(partitions);
        }
    }

    private void forget(Collection<TopicPartition> partitions) {
        for (TopicPartition tp : partitions) {
            if (commits.forget(tp) && tp.topic().equals(topic)) {
                assignedCount--;
            }
            refused.remove(tp);
            backlogs.remove(tp);
            listedEnds.remove(tp);
            pausedForBacklog.remove(tp);
            pausedByEngine.remove(tp);
        }
    }

    /**
     * Pauses the given engine partitions that this member holds (and does not refuse): Kafka fetches nothing more
     * for them, and their backlog stays here until {@link #resumePartitions}.
     */
    @Override
    public void pausePartitions(Collection<Integer> partitions) {
        List<TopicPartition> pause = new ArrayList<>(partitions.size());
        for (int id : partitions) {
            TopicPartition tp = topicPartition(id);
            // commits holds exactly the partitions assigned now and handed to the engine.
            if (commits.holds(tp) && pausedByEngine.add(tp)) {
                pause.add(tp);
            }
        }
        if (!pause.isEmpty()) {
            consumer.pause(pause);
        }
    }

    /**
     * Lifts the engine's pause of the given partitions; each is resumed in Kafka unless another reason (the engine
     * is full, a backlog) still holds it, and is then resumed when that reason goes.
     */
    @Override
    public void resumePartitions(Collection<Integer> partitions) {
        List<TopicPartition> resume = new ArrayList<>(partitions.size());
        for (int id : partitions) {
            TopicPartition tp = topicPartition(id);
            if (pausedByEngine.remove(tp) && !allPaused && !backlogs.has(tp) && !refused.contains(tp)) {
                resume.add(tp);
            }
        }
        if (!resume.isEmpty()) {
            consumer.resume(resume);
        }
    }

    /** Partitions paused at the engine's request, as engine numbers (for tests). */
    Set<Integer> pausedByEngine() {
        Set<Integer> ids = new HashSet<>();
        for (TopicPartition tp : pausedByEngine) {
            ids.add(sourceId(tp));
        }
        return ids;
    }

    /** Partitions paused in Kafka now, for any reason, as engine numbers (for tests). */
    Set<Integer> pausedInKafka() {
        Set<Integer> ids = new HashSet<>();
        for (TopicPartition tp : consumer.paused()) {
            ids.add(sourceId(tp));
        }
        return ids;
    }

    // ------------------------------------------------------------------ commit

    @Override
    public void commit(Map<Integer, Long> nextOffsets, boolean sync) {
        Map<TopicPartition, Long> offsets = new HashMap<>();
        for (Map.Entry<Integer, Long> e : nextOffsets.entrySet()) {
            offsets.put(topicPartition(e.getKey()), e.getValue());
        }
        commits.commit(offsets, sync);
    }

    /** Partitions whose newest commit failed and is to be sent again on the next poll (for tests). */
    int commitsAwaitingRetry() {
        return commits.awaitingRetry();
    }

    // ------------------------------------------------------------------ delayed redelivery

    @Override
    public CompletableFuture<Void> redeliverLater(Redelivery r) {
        if (tiers.isEmpty()) {
            return TransportConsumer.super.redeliverLater(r);
        }
        int tier = tiers.tierFor(r.delayNanos());
        long due = System.currentTimeMillis() + tiers.delay(tier).toMillis();
        HandOff handOff = new HandOff(KafkaRecords.toRecord(tierTopics[tier], r.message(), r.attemptsMade(), due),
                r.message());
        try {
            handOffs().execute(handOff);
        } catch (RejectedExecutionException e) {
            handOff.done.completeExceptionally(new IllegalStateException("the consumer of topic " + topic
                    + " is closed", e));
        }
        return handOff.done;
    }

    private ExecutorService handOffs() {
        if (handOffs == null) {
            handOffs = Executors.newSingleThreadExecutor(Thread.ofPlatform().daemon(true)
                    .name("sluice-kafka-handoff-" + topic + "-" + group).factory());
        }
        return handOffs;
    }

    /** One record for a delay tier; completes {@link #done} once the broker has stored it. */
    private final class HandOff implements Runnable {
        final CompletableFuture<Void> done = new CompletableFuture<>();
        private final ProducerRecord<byte[], byte[]> record;
        private final Message message;

        HandOff(ProducerRecord<byte[], byte[]> record, Message message) {
            this.record = record;
            this.message = message;
        }

        @Override
        public void run() {
            try {
                sender.send(record, message).whenComplete((receipt, e) -> {
                    if (e == null) {
                        done.complete(null);
                    } else {
                        done.completeExceptionally(e);
                    }
                });
            } catch (RuntimeException e) {
                done.completeExceptionally(e);
            }
        }
    }

    // ------------------------------------------------------------------ lag, wakeup, close

    private void refreshLag() {
        long now = System.nanoTime();
        if (now - nextLagNanos < 0) {
            return;
        }
        nextLagNanos = now + LAG_REFRESH_NANOS;
        Set<TopicPartition> paused = consumer.paused();
        Map<Integer, Long> snapshot = new HashMap<>();
        for (TopicPartition tp : consumer.assignment()) {
            if (refused.contains(tp)) {
                continue;
            }
            OptionalLong behind = consumer.currentLag(tp);
            if (behind.isPresent()) {
                long unfetched = behind.getAsLong();
                Long listed = paused.contains(tp) ? listedEnds.get(tp) : null;
                if (listed != null) {
                    try {
                        unfetched = Math.max(unfetched, listed - consumer.position(tp, Duration.ZERO));
                    } catch (TimeoutException e) {
                        // The position is being validated (a leader changed): the fetched view stands for now.
                    } catch (WakeupException e) {
                        wakeupRequested = true; // meant for the next poll, which then returns at once
                    }
                }
                snapshot.put(sourceId(tp), unfetched + backlogs.size(tp));
            }
        }
        lag = Map.copyOf(snapshot);
        listEndOffsets(paused, now);
    }

    /**
     * Looks up the end offsets of paused partitions through the admin client, at most one lookup at a time and one
     * a second: a paused partition fetches nothing, so the consumer's own view of its end stops where the last fetch
     * left it, while the backlog that backpressure holds back keeps growing on the broker. Never waits: the answer
     * is used by a later refresh.
     */
    private void listEndOffsets(Set<TopicPartition> paused, long now) {
        if (paused.isEmpty() || endOffsetsPending || now - nextEndOffsetsNanos < 0) {
            return;
        }
        nextEndOffsetsNanos = now + END_OFFSETS_REFRESH_NANOS;
        Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
        for (TopicPartition tp : paused) {
            if (!refused.contains(tp)) {
                latest.put(tp, OffsetSpec.latest());
            }
        }
        if (latest.isEmpty()) {
            return;
        }
        endOffsetsPending = true;
        try {
            admin.get().listOffsets(latest, endOffsetsOptions).all().whenComplete((ends, error) -> {
                if (error == null) {
                    ends.forEach((tp, info) -> listedEnds.merge(tp, info.offset(), Math::max));
                } else {
                    log.debug("Listing end offsets of {} for the lag of group {} failed", latest.keySet(), group,
                            error);
                }
                endOffsetsPending = false;
            });
        } catch (RuntimeException e) {
            endOffsetsPending = false;
            log.debug("Listing end offsets of {} for the lag of group {} failed", latest.keySet(), group, e);
        }
    }

    /**
     * Per assigned partition (engine numbering), records not yet handed to the engine: the end offset (for this
     * consumer's isolation level) minus this member's position, plus its backlog. The end comes from the last fetch,
     * or for a paused partition, which fetches nothing, from an admin lookup at most a second old if that is newer.
     * Refreshed by polls, at most every 200 ms; partitions not fetched yet are absent. Any thread.
     */
    @Override
    public Map<Integer, Long> lag() {
        return lag;
    }

    @Override
    public Duration maxRevokeTime() {
        return maxRevokeTime;
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
            commits.commitUnconfirmed(consumer.assignment());
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
        if (handOffs != null) {
            // The engine has drained: hand-offs not sent yet are failed, so nothing waits on them.
            for (Runnable pending : handOffs.shutdownNow()) {
                ((HandOff) pending).done.completeExceptionally(new IllegalStateException("the consumer of topic "
                        + topic + " closed before this delay-tier hand-off was sent"));
            }
        }
    }
}
