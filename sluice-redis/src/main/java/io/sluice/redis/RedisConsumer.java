package io.sluice.redis;

import io.lettuce.core.Consumer;
import io.lettuce.core.Limit;
import io.lettuce.core.Range;
import io.lettuce.core.RedisBusyException;
import io.lettuce.core.RedisFuture;
import io.lettuce.core.StreamMessage;
import io.lettuce.core.XGroupCreateArgs;
import io.lettuce.core.XReadArgs;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.async.RedisAsyncCommands;
import io.lettuce.core.models.stream.PendingMessage;
import io.sluice.DeadLetters;
import io.sluice.Headers;
import io.sluice.Message;
import io.sluice.MessageIds;
import io.sluice.config.StartPosition;
import io.sluice.spi.ConsumerSpec;
import io.sluice.spi.PartitionListener;
import io.sluice.spi.RecordSink;
import io.sluice.spi.TransportConsumer;
import io.sluice.spi.support.GroupMember;
import io.sluice.spi.support.PollWaiter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BooleanSupplier;

/**
 * One group member on a topic's partition streams: a Redis consumer group per stream (created on first use), the
 * partitions split among members by {@link GroupMember} over a {@link RedisMembership}, one Redis consumer (named by
 * the member id) per member.
 *
 * <p>How a partition is read while this member holds its lease:
 * <ol>
 * <li>Recovery first: entries still pending in the group (a previous owner fetched them and did not acknowledge them:
 * it died, was abandoned, or let the partition go before finishing) are claimed in id order with {@code XPENDING} +
 * {@code XCLAIM} once idle for {@code claimIdle}, and delivered before anything new. An entry not idle long enough
 * holds the partition's recovery (not the other partitions) until it is, so per-key order holds. (Not
 * {@code XAUTOCLAIM}: it skips entries not idle enough and claims later ones, which would break that order.) Entries
 * parked for a delayed redelivery are skipped; an entry delivered {@code maxDeliveries} times is dead-lettered.</li>
 * <li>Then new entries, with {@code XREADGROUP ... >} on a connection of this member's own, sent asynchronously with
 * {@code BLOCK blockTime} for all its fetchable partitions at once; its {@code COUNT} never asks for more than the
 * engine's room ({@code maxRecords}) in total. Fetched entries the sink cannot take yet wait in a per-partition
 * buffer; those of a partition that is let go are marked long idle, for the next owner to claim at once.</li>
 * <li>Delayed redeliveries that fall due (the group's schedule of the partition) are moved back and delivered
 * ({@link #redeliverLater}).</li>
 * </ol>
 * A read that fails (the connection dropped: its reply, if Redis had sent one, is lost, and the entries it held are
 * pending under this member) makes the partitions it covered read this member's own pending entries after the last
 * one taken ({@code XREADGROUP} with that id instead of {@code >}) before new ones; the reader connection does not
 * reconnect by itself and is opened again by the poll loop.
 * A partition is not let go ({@link GroupMember.Partitions#canLetGo}) while a read that includes it is outstanding,
 * so no read outlives the lease it was sent under. Messages are acknowledged one by one ({@code XACK}, pipelined on
 * the shared connection) when the engine says their outcome is final; a released message stays pending, marked long
 * idle ({@link #release}).
 *
 * <p>Thread ownership: owned by the subscription's poll thread, which makes every call except {@link #wakeup} (any
 * thread) and {@link #ack} (any thread: it only sends a command). The read's completion runs on a Lettuce thread and
 * only sets a volatile flag and signals the {@link PollWaiter}.
 */
final class RedisConsumer implements TransportConsumer {
    private static final Logger log = LoggerFactory.getLogger(RedisConsumer.class);
    private static final long RETRY_NANOS = TimeUnit.MILLISECONDS.toNanos(200);
    private static final int ACK_ATTEMPTS = 25;
    private static final long RECHECK_MILLIS = 1000;
    private static final long LAG_REFRESH_NANOS = TimeUnit.SECONDS.toNanos(1);
    /** Dead-letter reason of an entry delivered {@code redis.maxDeliveries} times without an outcome. */
    static final String REASON_REDELIVERED = "redelivered-without-outcome";
    /** KEYS: stream. ARGV: group, consumers. Deletes those of the consumers that have no pending entry. */
    private static final String DELETE_IF_NO_PENDING = "local n = 0 "
            + "for i = 2, #ARGV do "
            + "  if #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[i]) == 0 then "
            + "    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[i]) n = n + 1 "
            + "  end "
            + "end return n";
    /**
     * KEYS: the topic's publish schedule of a partition, its stream. ARGV: limit. Appends the due entries (each only
     * if this script removed it from the schedule) and returns {appended, ms until the next one or -1}.
     */
    private static final String MOVE_PUBLISHED = "local t = redis.call('TIME') "
            + "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "
            + "local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1])) "
            + "local n = 0 "
            + "for _, key in ipairs(due) do "
            + "  if redis.call('ZREM', KEYS[1], key) == 1 then "
            + "    local f = redis.call('HGETALL', key) "
            + "    if #f > 0 then redis.call('XADD', KEYS[2], '*', unpack(f)) n = n + 1 end "
            + "    redis.call('DEL', key) "
            + "  end "
            + "end "
            + "local nxt = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES') "
            + "local wait = -1 "
            + "if #nxt > 0 then wait = math.max(0, tonumber(nxt[2]) - now) end "
            + "return {n, wait}";
    private static final long PUBLISH_CHECK_NANOS = TimeUnit.SECONDS.toNanos(1);
    private static final String SERVER_NOW = "local t = redis.call('TIME') "
            + "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) ";
    /** KEYS: schedule, attempts. ARGV: entry id, delay ms, attempts made. */
    private static final String SCHEDULE = SERVER_NOW
            + "redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1]) "
            + "redis.call('HSET', KEYS[2], ARGV[1], ARGV[3]) "
            + "return now + tonumber(ARGV[2])";
    /**
     * KEYS: schedule, attempts, stream. ARGV: group, consumer, limit. Returns {{id, attempts, fields}...} of the due
     * entries still pending (now claimed by the consumer) and the ms until the next one (-1: none).
     */
    private static final String MOVE_DUE = SERVER_NOW
            + "local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3])) "
            + "local out = {} "
            + "for _, id in ipairs(due) do "
            + "  local a = redis.call('HGET', KEYS[2], id) or '0' "
            + "  redis.call('ZREM', KEYS[1], id) "
            + "  redis.call('HDEL', KEYS[2], id) "
            + "  local c = redis.call('XCLAIM', KEYS[3], ARGV[1], ARGV[2], 0, id) "
            + "  if #c > 0 and c[1][2] then out[#out + 1] = {id, a, c[1][2]} end "
            + "end "
            + "local nxt = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES') "
            + "local wait = -1 "
            + "if #nxt > 0 then wait = tonumber(nxt[2]) - now end "
            + "return {out, wait}";

    /** A fetched entry: what the sink gets as the ack handle. Immutable. */
    static final class Delivery {
        final int partition;
        final String id;
        final Message message;
        final long offset;
        final int size;
        final int attempt;

        Delivery(int partition, String id, Message message, int attempt) {
            this.partition = partition;
            this.id = id;
            this.message = message;
            this.offset = StreamEntries.offset(id);
            this.size = message.estimatedSize();
            this.attempt = attempt;
        }
    }

    private final RedisAsyncCommands<String, byte[]> redis;
    private final RedisTransport transport;
    private StatefulRedisConnection<String, byte[]> readerConnection;
    private RedisAsyncCommands<String, byte[]> reader;
    private CompletableFuture<StatefulRedisConnection<String, byte[]>> readerConnecting;
    private final String topic;
    private final String group;
    private final String[] streams;
    private final String[] schedules;
    private final String[] scheduleAttempts;
    private final String[] publishSchedules;
    /** When to look at each owned partition's delayed publishes next (System.nanoTime). */
    private final long[] publishCheckNanos;
    private final Map<String, Integer> partitionOf = new HashMap<>();
    private final Consumer<String> me;
    private final long claimIdleMillis;
    /** Marks released entries as long idle (not in progress), so the next owner claims them at once. */
    private final io.lettuce.core.XClaimArgs releasedArgs;
    private final int maxDeliveries;
    private final long blockMillis;
    private final long timeoutMillis;
    private final PollWaiter waiter = new PollWaiter();
    private final GroupMember member;
    /** Set while {@link #member} is constructed (it joins through this store). */
    private RedisMembership store;
    private final BooleanSupplier ready = this::readyToPoll;

    // Poll-thread state.
    private final ArrayDeque<Delivery>[] buffers;
    private final boolean[] recovering;
    private final String[] recoverFrom;
    /** The previous owners whose pending entries recovery took, to delete from the group once they have none. */
    private final java.util.Set<String>[] claimedFrom;
    private final long[] recoverAtNanos;
    private final boolean[] inRead;
    /** Moves each time a partition is opened or closed; a read's entries count only for the opening it was sent in. */
    private final int[] openings;
    private final int[] readOpenings;
    /** The id of the last entry of each partition taken into its buffer; reads of own pending entries start after it. */
    private final String[] lastSeen;
    /** A read of the partition failed: its reply may have held entries now pending under this member, unseen. */
    private final boolean[] resync;
    /** When the partition's earliest delayed redelivery may be due (System.nanoTime); Long.MAX_VALUE: none known. */
    private final long[] nextDueNanos;
    private RedisFuture<List<StreamMessage<String, byte[]>>> read;
    private long readAgainAtNanos;
    private boolean letGoWaiting;
    private int nextPartition;
    private boolean closed;
    private long lagRefreshedNanos = System.nanoTime() - LAG_REFRESH_NANOS;
    /** Written by the lag refresh's completion (a Lettuce thread), read by the poll thread. */
    private volatile boolean lagRefreshing;
    private volatile Map<Integer, Long> lastLag = Map.of();
    /** Set by the read's completion on a Lettuce thread, before it signals the waiter. */
    private volatile boolean readDone;
    /** Set when a reconnect of the reader finished, before the waiter is signalled. */
    private volatile boolean readerConnected;

    @SuppressWarnings("unchecked")
    RedisConsumer(RedisTransport transport, ConsumerSpec spec, PartitionListener listener) {
        RedisSettings settings = transport.settings();
        this.redis = transport.commands();
        this.topic = spec.topic();
        this.group = spec.group();
        this.streams = transport.names().streams(topic);
        this.schedules = transport.names().schedules(topic, group);
        this.scheduleAttempts = transport.names().scheduleAttempts(topic, group);
        this.publishSchedules = transport.names().publishSchedules(topic);
        this.publishCheckNanos = new long[streams.length];
        for (int p = 0; p < streams.length; p++) {
            partitionOf.put(streams[p], p);
        }
        String memberId = spec.memberId() + "-" + Long.toHexString(System.nanoTime() ^ Double.doubleToLongBits(
                Math.random()));
        this.me = Consumer.from(group, memberId);
        this.claimIdleMillis = settings.claimIdle().toMillis();
        this.releasedArgs = new io.lettuce.core.XClaimArgs().justid().minIdleTime(0)
                .idle(claimIdleMillis + TimeUnit.HOURS.toMillis(1));
        this.maxDeliveries = settings.maxDeliveries();
        this.blockMillis = Math.max(1, settings.blockTime().toMillis());
        this.timeoutMillis = settings.commandTimeout().toMillis();
        int n = streams.length;
        this.buffers = new ArrayDeque[n];
        for (int p = 0; p < n; p++) {
            buffers[p] = new ArrayDeque<>();
        }
        this.recovering = new boolean[n];
        this.recoverFrom = new String[n];
        this.claimedFrom = new java.util.Set[n];
        for (int p = 0; p < n; p++) {
            claimedFrom[p] = new java.util.HashSet<>();
        }
        this.recoverAtNanos = new long[n];
        this.inRead = new boolean[n];
        this.openings = new int[n];
        this.readOpenings = new int[n];
        this.lastSeen = new String[n];
        this.resync = new boolean[n];
        this.nextDueNanos = new long[n];
        java.util.Arrays.fill(nextDueNanos, Long.MAX_VALUE);
        this.transport = transport;
        createGroups(spec.startFrom());
        try {
            this.readerConnection = transport.connectReader().get(timeoutMillis, TimeUnit.MILLISECONDS);
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException("could not connect to Redis for reading topic " + topic + ": " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while connecting to Redis", e);
        }
        this.reader = readerConnection.async();
        try {
            this.member = new GroupMember(onChange -> store = new RedisMembership(redis,
                    transport.names().members(topic, group), transport.names().leases(topic, group), memberId,
                    settings.sessionTimeout(), settings.heartbeatInterval(), settings.commandTimeout(),
                    transport.scheduler(), onChange),
                    listener, new GroupMember.Partitions() {
                        @Override
                        public void open(int partition) {
                            openPartition(partition);
                        }

                        @Override
                        public void close(int partition) {
                            closePartition(partition);
                        }

                        @Override
                        public boolean canLetGo(int partition) {
                            if (inRead[partition]) {
                                letGoWaiting = true;
                                return false;
                            }
                            return true;
                        }
                    }, waiter::signal);
        } catch (RuntimeException e) {
            readerConnection.closeAsync();
            throw e;
        }
    }

    /** Creates the group on every partition stream ({@code MKSTREAM}); a group that exists is left as it is. */
    private void createGroups(StartPosition startFrom) {
        String from = startFrom == StartPosition.LATEST ? "$" : "0";
        List<RedisFuture<String>> created = new ArrayList<>(streams.length);
        for (String stream : streams) {
            created.add(redis.xgroupCreate(XReadArgs.StreamOffset.from(stream, from), group,
                    XGroupCreateArgs.Builder.mkstream()));
        }
        for (RedisFuture<String> f : created) {
            try {
                f.get(timeoutMillis, TimeUnit.MILLISECONDS);
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof RedisBusyException)
                        && !String.valueOf(e.getCause().getMessage()).startsWith("BUSYGROUP")) {
                    throw new IllegalStateException("could not create consumer group " + group + " on topic " + topic
                            + ": " + e.getCause().getMessage(), e.getCause());
                }
            } catch (TimeoutException e) {
                throw new IllegalStateException("creating consumer group " + group + " on topic " + topic
                        + " timed out after " + timeoutMillis + " ms", e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while creating consumer group " + group, e);
            }
        }
    }

    private void openPartition(int p) {
        openings[p]++;
        buffers[p].clear();
        lastSeen[p] = "0-0";
        resync[p] = false;
        nextDueNanos[p] = 0; // a previous owner may have left delayed redeliveries: look once recovered
        recovering[p] = true;
        recoverFrom[p] = null;
        recoverAtNanos[p] = 0;
    }

    private void closePartition(int p) {
        openings[p]++;
        releaseBuffered(p); // fetched, never delivered: pending under this member, for the next owner at once
        recovering[p] = false;
        nextDueNanos[p] = Long.MAX_VALUE;
    }

    @Override
    public void poll(int maxRecords, long maxBytes, boolean oversizedFirst, long timeoutNanos, RecordSink sink)
            throws InterruptedException {
        waiter.enter();
        long deadline = System.nanoTime() + timeoutNanos;
        while (true) {
            absorbRead();
            if (store.loseLeasesIfExpired()) {
                member.requestRebalance(); // gives the partitions up as lost
            }
            member.rebalance();
            if (maxRecords == 0) {
                return;
            }
            long wakeAt = Math.min(recover(maxRecords, deadline), moveDue(maxRecords, deadline));
            wakeAt = Math.min(wakeAt, movePublished(deadline));
            int delivered = deliver(maxRecords, maxBytes, oversizedFirst, sink);
            if (waiter.consumeWakeup() | delivered > 0) {
                return;
            }
            long now = System.nanoTime();
            if (read == null) {
                if (now - readAgainAtNanos >= 0 && readerReady()) {
                    startRead(maxRecords);
                } else {
                    wakeAt = Math.min(wakeAt, readAgainAtNanos);
                }
            }
            if (now - deadline >= 0) {
                return;
            }
            waiter.await(Math.min(deadline, wakeAt), ready);
        }
    }

    private boolean readyToPoll() {
        return readDone || readerConnected || member.rebalanceRequested();
    }

    /** Takes in a finished read: its entries go to the buffers of partitions still owned. */
    private void absorbRead() {
        RedisFuture<List<StreamMessage<String, byte[]>>> r = read;
        if (r == null || !r.isDone()) {
            return;
        }
        read = null;
        readDone = false;
        try {
            List<StreamMessage<String, byte[]>> entries = r.get();
            if (entries != null) {
                for (StreamMessage<String, byte[]> e : entries) {
                    Integer p = partitionOf.get(e.getStream());
                    if (p != null && member.owns(p) && readOpenings[p] == openings[p]) {
                        take(p, e);
                    }
                }
            }
        } catch (ExecutionException e) {
            for (int p = 0; p < inRead.length; p++) {
                resync[p] |= inRead[p] && member.owns(p);
            }
            readFailed(e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        java.util.Arrays.fill(inRead, false);
        if (letGoWaiting) {
            letGoWaiting = false;
            member.requestRebalance();
        }
    }

    private void readFailed(Throwable cause) {
        String m = String.valueOf(cause.getMessage());
        if (m.startsWith("NOGROUP")) { // the stream or group vanished (a server restarted without persistence)
            log.warn("group {} missing on topic {}; creating it again", group, topic);
            try {
                createGroups(StartPosition.EARLIEST);
            } catch (RuntimeException e) {
                log.warn("could not create group {} on topic {} again: {}", group, topic, e.getMessage());
            }
        } else if (!closed) {
            log.warn("XREADGROUP of member {} on topic {} failed: {}", me.getName(), topic, cause.toString());
        }
        if (!readerConnection.isOpen()) {
            readerConnection.closeAsync();
            reader = null; // connected again by the poll loop
        }
        readAgainAtNanos = System.nanoTime() + RETRY_NANOS;
    }

    /** True once the reader connection is usable; starts or completes reconnecting it otherwise. */
    private boolean readerReady() {
        if (reader != null) {
            return true;
        }
        if (readerConnecting == null) {
            readerConnecting = transport.connectReader().toCompletableFuture();
            readerConnecting.whenComplete((c, e) -> {
                readerConnected = true; // wakes the poll loop to take the connection
                waiter.signal();
            });
            return false;
        }
        if (!readerConnecting.isDone()) {
            return false;
        }
        CompletableFuture<StatefulRedisConnection<String, byte[]>> f = readerConnecting;
        readerConnecting = null;
        readerConnected = false;
        try {
            readerConnection = f.join();
            reader = readerConnection.async();
            log.info("member {} on topic {} reconnected its reader", me.getName(), topic);
            return true;
        } catch (RuntimeException e) {
            log.warn("member {} on topic {} could not reconnect its reader: {}", me.getName(), topic, e.toString());
            readAgainAtNanos = System.nanoTime() + RETRY_NANOS;
            return false;
        }
    }

    /** Buffers a fetched entry of owned partition {@code p}. */
    private void take(int p, StreamMessage<String, byte[]> e) {
        lastSeen[p] = e.getId();
        if (e.getBody() == null || e.getBody().isEmpty()) {
            redis.xack(streams[p], group, e.getId()); // trimmed away while pending: nothing left to deliver
            return;
        }
        buffers[p].add(decode(p, e, 1));
    }

    private Delivery decode(int p, StreamMessage<String, byte[]> e, int attempt) {
        Message m;
        try {
            m = StreamEntries.message(e.getBody());
        } catch (RuntimeException bad) {
            // Not written by Sluice: hand it to the engine as an undecodable payload rather than stall the partition.
            log.warn("entry {} of {} is not a Sluice message ({}); delivering its fields as an empty message",
                    e.getId(), e.getStream(), bad.getMessage());
            m = Message.builder().id(e.getStream() + "/" + e.getId()).payload(new byte[0])
                    .header("redis-fields", String.valueOf(e.getBody().keySet())).build();
        }
        return new Delivery(p, e.getId(), m, attempt);
    }

    /**
     * Claims, in id order, the pending entries of fetchable partitions still recovering, into their buffers.
     *
     * @return when a partition waiting for an entry to become idle enough should be looked at again
     */
    private long recover(int maxRecords, long deadline) {
        long wakeAt = Long.MAX_VALUE;
        long now = System.nanoTime();
        for (int p = 0; p < streams.length; p++) {
            if (!(recovering[p] || resync[p]) || !member.isFetchable(p) || !buffers[p].isEmpty()) {
                continue;
            }
            if (now - recoverAtNanos[p] < 0) {
                wakeAt = Math.min(wakeAt, recoverAtNanos[p]);
                continue;
            }
            try {
                long again = recovering[p] ? recoverStep(p, maxRecords) : resyncStep(p, maxRecords);
                if (again > 0) {
                    recoverAtNanos[p] = System.nanoTime() + again;
                    wakeAt = Math.min(wakeAt, recoverAtNanos[p]);
                }
            } catch (ExecutionException | TimeoutException e) {
                Throwable cause = e instanceof ExecutionException ? e.getCause() : e;
                log.warn("claiming pending entries of {} for member {} failed: {}", streams[p], me.getName(),
                        cause.toString());
                recoverAtNanos[p] = System.nanoTime() + RETRY_NANOS;
                wakeAt = Math.min(wakeAt, recoverAtNanos[p]);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return deadline;
            }
        }
        return wakeAt;
    }

    /** One claim round on partition {@code p}; returns nanoseconds to wait before the next, or 0. */
    private long recoverStep(int p, int maxRecords)
            throws ExecutionException, TimeoutException, InterruptedException {
        String stream = streams[p];
        Range<String> range = recoverFrom[p] == null ? Range.unbounded()
                : Range.create(recoverFrom[p], "+");
        List<PendingMessage> pending = redis.xpending(stream, group, range, Limit.from(Math.max(1, maxRecords)))
                .get(timeoutMillis, TimeUnit.MILLISECONDS);
        if (pending.isEmpty()) {
            recovering[p] = false; // everything left behind is claimed: new entries from here on
            deleteConsumersWithoutPending(p, claimedFrom[p]);
            claimedFrom[p].clear();
            return 0;
        }
        // Entries waiting for a delayed redelivery stay pending on purpose: skipped here, delivered when due.
        byte[][] pendingIds = new byte[pending.size()][];
        for (int i = 0; i < pendingIds.length; i++) {
            pendingIds[i] = pending.get(i).getId().getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        }
        List<Double> scheduled = redis.zmscore(schedules[p], pendingIds).get(timeoutMillis, TimeUnit.MILLISECONDS);
        List<String> toClaim = new ArrayList<>();
        Map<String, Long> deliveries = new HashMap<>();
        String lastExamined = null;
        for (int i = 0; i < pending.size(); i++) {
            PendingMessage pm = pending.get(i);
            if (scheduled.get(i) == null) {
                if (pm.getMsSinceLastDelivery() < claimIdleMillis) {
                    if (lastExamined == null) {
                        // Look again at least every second: its holder may release it (it then looks long idle).
                        return TimeUnit.MILLISECONDS.toNanos(Math.min(RECHECK_MILLIS, Math.max(1,
                                claimIdleMillis - pm.getMsSinceLastDelivery())));
                    }
                    break; // claim what comes before it first; it holds the partition after that
                }
                toClaim.add(pm.getId());
                deliveries.put(pm.getId(), pm.getRedeliveryCount());
                if (!pm.getConsumer().equals(me.getName())) {
                    claimedFrom[p].add(pm.getConsumer());
                }
            }
            lastExamined = pm.getId();
        }
        recoverFrom[p] = StreamEntries.after(lastExamined);
        if (toClaim.isEmpty()) {
            return 0;
        }
        String[] ids = toClaim.toArray(new String[0]);
        int eligible = ids.length;
        List<StreamMessage<String, byte[]>> claimed = redis.xclaim(stream, me, claimIdleMillis, ids)
                .get(timeoutMillis, TimeUnit.MILLISECONDS);
        for (StreamMessage<String, byte[]> e : claimed) {
            long delivered = deliveries.getOrDefault(e.getId(), 0L);
            if (maxDeliveries > 0 && delivered >= maxDeliveries && e.getBody() != null && !e.getBody().isEmpty()) {
                if (!deadLetterPoison(p, e, delivered)) {
                    recoverFrom[p] = e.getId(); // claimed (so idle again): looked at once more after claimIdle
                    return TimeUnit.MILLISECONDS.toNanos(claimIdleMillis);
                }
                lastSeen[p] = e.getId();
                continue;
            }
            take(p, e);
        }
        if (log.isDebugEnabled()) {
            log.debug("member {} claimed {} pending entries of {} (deliveries so far: {})", me.getName(),
                    claimed.size(), stream, deliveries.values());
        }
        return 0;
    }

    /**
     * Delivers the due delayed redeliveries of fetchable, recovered partitions whose earliest one may be due.
     *
     * @return when to look again
     */
    private long moveDue(int maxRecords, long deadline) {
        long wakeAt = Long.MAX_VALUE;
        long now = System.nanoTime();
        for (int p = 0; p < streams.length; p++) {
            if (nextDueNanos[p] == Long.MAX_VALUE || recovering[p] || !member.isFetchable(p)) {
                continue;
            }
            if (now - nextDueNanos[p] < 0 || !buffers[p].isEmpty()) {
                wakeAt = Math.min(wakeAt, nextDueNanos[p]);
                continue;
            }
            try {
                moveDueStep(p, maxRecords);
            } catch (ExecutionException | TimeoutException e) {
                Throwable cause = e instanceof ExecutionException ? e.getCause() : e;
                log.warn("moving due redeliveries of {} failed: {}", streams[p], cause.toString());
                nextDueNanos[p] = System.nanoTime() + RETRY_NANOS;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return deadline;
            }
            if (nextDueNanos[p] != Long.MAX_VALUE) {
                wakeAt = Math.min(wakeAt, nextDueNanos[p]);
            }
        }
        return wakeAt;
    }

    /**
     * Appends the topic's due delayed publishes ({@link RedisTransport#publishLater}) of the partitions this member
     * owns to their streams, at most once a second per partition unless one is known to fall due sooner. Members of
     * every group do this; the script appends each once.
     *
     * @return when to look again
     */
    @SuppressWarnings("unchecked")
    private long movePublished(long deadline) {
        long wakeAt = Long.MAX_VALUE;
        long now = System.nanoTime();
        for (int p = 0; p < streams.length; p++) {
            if (!member.owns(p)) {
                continue;
            }
            if (now - publishCheckNanos[p] < 0) {
                wakeAt = Math.min(wakeAt, publishCheckNanos[p]);
                continue;
            }
            long next = now + PUBLISH_CHECK_NANOS;
            try {
                List<Object> reply = redis.<List<Object>>eval(MOVE_PUBLISHED, io.lettuce.core.ScriptOutputType.MULTI,
                        new String[] {publishSchedules[p], streams[p]},
                        "100".getBytes(java.nio.charset.StandardCharsets.US_ASCII))
                        .get(timeoutMillis, TimeUnit.MILLISECONDS);
                long waitMillis = (Long) reply.get(1);
                if (waitMillis >= 0) {
                    next = Math.min(next, System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(waitMillis));
                }
            } catch (ExecutionException | TimeoutException e) {
                log.warn("moving due delayed publishes of {} failed: {}", streams[p], e instanceof ExecutionException
                        ? e.getCause().toString() : e.toString());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return deadline;
            }
            publishCheckNanos[p] = next;
            wakeAt = Math.min(wakeAt, next);
        }
        return wakeAt;
    }

    /**
     * One atomic move ({@link #MOVE_DUE}): due entries leave the schedule and are claimed by this member in the same
     * script, so a member dying right after it leaves them pending (claimed by the next owner), never lost or doubled.
     */
    @SuppressWarnings("unchecked")
    private void moveDueStep(int p, int maxRecords) throws ExecutionException, TimeoutException, InterruptedException {
        List<Object> reply = redis.<List<Object>>eval(MOVE_DUE, io.lettuce.core.ScriptOutputType.MULTI,
                new String[] {schedules[p], scheduleAttempts[p], streams[p]},
                group.getBytes(java.nio.charset.StandardCharsets.UTF_8),
                me.getName().getBytes(java.nio.charset.StandardCharsets.UTF_8),
                Integer.toString(Math.max(1, maxRecords)).getBytes(java.nio.charset.StandardCharsets.US_ASCII))
                .get(timeoutMillis, TimeUnit.MILLISECONDS);
        for (Object o : (List<Object>) reply.get(0)) {
            List<Object> moved = (List<Object>) o;
            String id = new String((byte[]) moved.get(0), java.nio.charset.StandardCharsets.US_ASCII);
            int attempts = Integer.parseInt(new String((byte[]) moved.get(1), java.nio.charset.StandardCharsets.US_ASCII));
            List<Object> flat = (List<Object>) moved.get(2);
            Map<String, byte[]> body = new java.util.LinkedHashMap<>();
            for (int i = 0; i + 1 < flat.size(); i += 2) {
                body.put(new String((byte[]) flat.get(i), java.nio.charset.StandardCharsets.UTF_8), (byte[]) flat.get(i + 1));
            }
            Delivery d;
            try {
                d = new Delivery(p, id, StreamEntries.message(body), attempts + 1);
            } catch (RuntimeException bad) {
                log.warn("delayed entry {} of {} is not a Sluice message: {}", id, streams[p], bad.getMessage());
                continue;
            }
            buffers[p].add(d);
        }
        long waitMillis = (Long) reply.get(1);
        nextDueNanos[p] = waitMillis < 0 ? Long.MAX_VALUE
                : System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(Math.max(0, waitMillis));
    }

    /**
     * Parks the message in the group's schedule of its partition (a sorted set scored by due time, server clock);
     * the entry itself stays pending in the stream, so nothing is copied and nothing can be lost. The partition's
     * owner at the due time delivers it again, with {@code deliveryAttempt == attemptsMade + 1}. Completes once
     * Redis stored the schedule entry.
     */
    @Override
    public CompletableFuture<Void> redeliverLater(io.sluice.spi.Redelivery r) {
        Delivery d = (Delivery) r.ackHandle();
        int p = d.partition;
        if (!member.owns(p)) {
            return CompletableFuture.failedFuture(new io.sluice.spi.TransientTransportException("partition " + p
                    + " of topic " + topic + " is no longer this member's"));
        }
        long delayMillis = Math.max(1, TimeUnit.NANOSECONDS.toMillis(r.delayNanos()));
        nextDueNanos[p] = Math.min(nextDueNanos[p], System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(delayMillis));
        return redis.<Long>eval(SCHEDULE, io.lettuce.core.ScriptOutputType.INTEGER,
                new String[] {schedules[p], scheduleAttempts[p]},
                d.id.getBytes(java.nio.charset.StandardCharsets.US_ASCII),
                Long.toString(delayMillis).getBytes(java.nio.charset.StandardCharsets.US_ASCII),
                Integer.toString(r.attemptsMade()).getBytes(java.nio.charset.StandardCharsets.US_ASCII))
                .toCompletableFuture().thenApply(due -> null);
    }

    /**
     * Dead-letters an entry delivered {@code delivered} times without an outcome (poison by crash: every consumer
     * that took it died, hung or was abandoned before finishing it), to {@code <topic>.dlq} with the engine's
     * dead-letter headers, and acknowledges it once the dead letter is stored. Waits for both (poll thread; a rare
     * path). Returns false if the dead letter could not be stored: the entry stays pending.
     */
    private boolean deadLetterPoison(int p, StreamMessage<String, byte[]> e, long delivered)
            throws InterruptedException {
        Message original = StreamEntries.message(e.getBody());
        Headers.Builder h = original.headers().toBuilder()
                .set(DeadLetters.REASON, REASON_REDELIVERED)
                .set(DeadLetters.ERROR_CLASS, "")
                .set(DeadLetters.ERROR_MESSAGE, "delivered " + delivered + " times (redis.maxDeliveries is "
                        + maxDeliveries + ") without an outcome: its consumers crashed, hung or were abandoned")
                .set(DeadLetters.ATTEMPTS, Long.toString(delivered))
                .set(DeadLetters.ORIGINAL_TOPIC, topic)
                .set(DeadLetters.ORIGINAL_PARTITION, Integer.toString(p))
                .set(DeadLetters.ORIGINAL_OFFSET, Long.toString(StreamEntries.offset(e.getId())))
                .set(DeadLetters.GROUP, group)
                .set(DeadLetters.FIRST_FAILURE_TIME, java.time.Instant.now().toString());
        if (original.id() != null) {
            h.set(DeadLetters.ORIGINAL_ID, original.id());
        }
        Message letter = original.toBuilder().id(MessageIds.newId()).headers(h.build()).build();
        try {
            transport.producer().send(topic + ".dlq", letter).get(timeoutMillis, TimeUnit.MILLISECONDS);
            redis.xack(streams[p], group, e.getId()).get(timeoutMillis, TimeUnit.MILLISECONDS);
            log.warn("member {} dead-lettered entry {} of {} to {}.dlq: delivered {} times without an outcome",
                    me.getName(), e.getId(), streams[p], topic, delivered);
            return true;
        } catch (ExecutionException | TimeoutException failure) {
            log.warn("could not dead-letter entry {} of {} (delivered {} times); it stays pending: {}", e.getId(),
                    streams[p], delivered, failure.toString());
            return false;
        }
    }

    /**
     * Reads this member's own pending entries of {@code p} after the last one it took (those a lost read reply
     * held), without blocking; once there are none, new entries are read again. Returns 0.
     */
    @SuppressWarnings("unchecked")
    private long resyncStep(int p, int maxRecords) throws ExecutionException, TimeoutException, InterruptedException {
        List<StreamMessage<String, byte[]>> own = redis.xreadgroup(me, XReadArgs.Builder.count(Math.max(1,
                maxRecords)), XReadArgs.StreamOffset.from(streams[p], lastSeen[p]))
                .get(timeoutMillis, TimeUnit.MILLISECONDS);
        if (own.isEmpty()) {
            resync[p] = false;
            return 0;
        }
        log.info("member {} found {} entries of {} a lost read reply held", me.getName(), own.size(), streams[p]);
        for (StreamMessage<String, byte[]> e : own) {
            take(p, e);
        }
        return 0;
    }

    private int deliver(int maxRecords, long maxBytes, boolean oversizedFirst, RecordSink sink) {
        int delivered = 0;
        long bytes = 0;
        int n = streams.length;
        for (int i = 0; i < n && delivered < maxRecords; i++) {
            int p = (nextPartition + i) % n;
            if (!member.isFetchable(p)) {
                continue;
            }
            ArrayDeque<Delivery> buffer = buffers[p];
            Delivery d;
            while (delivered < maxRecords && (d = buffer.peek()) != null) {
                if (bytes + d.size > maxBytes && !(oversizedFirst && delivered == 0)) {
                    nextPartition = (p + 1) % n;
                    return delivered;
                }
                buffer.poll();
                sink.accept(d.message, p, d.offset, d.size, d.attempt, d);
                bytes += d.size;
                delivered++;
            }
        }
        nextPartition = (nextPartition + 1) % n;
        return delivered;
    }

    /** Sends one blocking read of new entries for the fetchable partitions that have nothing buffered. */
    @SuppressWarnings("unchecked")
    private void startRead(int maxRecords) {
        int n = streams.length;
        int[] chosen = new int[n];
        int k = 0;
        for (int i = 0; i < n; i++) {
            int p = (nextPartition + i) % n;
            if (member.isFetchable(p) && !recovering[p] && !resync[p] && buffers[p].isEmpty()) {
                chosen[k++] = p;
            }
        }
        if (k == 0) {
            return;
        }
        // COUNT applies per stream: never ask for more than maxRecords in total.
        int streamsInRead = Math.min(k, maxRecords);
        int count = Math.max(1, maxRecords / streamsInRead);
        XReadArgs.StreamOffset<String>[] offsets = new XReadArgs.StreamOffset[streamsInRead];
        for (int i = 0; i < streamsInRead; i++) {
            int p = chosen[i];
            offsets[i] = XReadArgs.StreamOffset.lastConsumed(streams[p]);
            inRead[p] = true;
            readOpenings[p] = openings[p];
        }
        readDone = false;
        RedisFuture<List<StreamMessage<String, byte[]>>> r = reader.xreadgroup(me,
                XReadArgs.Builder.block(blockMillis).count(count), offsets);
        read = r;
        r.whenComplete((entries, failure) -> {
            readDone = true;
            waiter.signal();
        });
    }

    @Override
    public void pausePartitions(Collection<Integer> partitions) {
        member.pause(partitions);
    }

    @Override
    public void resumePartitions(Collection<Integer> partitions) {
        member.resume(partitions);
    }

    @Override
    public void wakeup() {
        waiter.wakeup();
    }

    @Override
    public void commit(Map<Integer, Long> nextOffsets, boolean sync) {
        // Per-message acknowledgement: nothing to commit.
    }

    /**
     * The group's lag on each owned partition stream ({@code XINFO GROUPS} "lag": entries not yet delivered to the
     * group), as of the last refresh: asked in the background at most once a second, never waited for. A stream
     * whose lag Redis cannot tell (after trimming or deleting entries) is left out.
     */
    @Override
    public Map<Integer, Long> lag() {
        long now = System.nanoTime();
        if (!lagRefreshing && now - lagRefreshedNanos >= LAG_REFRESH_NANOS) {
            lagRefreshing = true;
            lagRefreshedNanos = now;
            List<CompletableFuture<List<Object>>> infos = new ArrayList<>(streams.length);
            List<Integer> asked = new ArrayList<>(streams.length);
            for (int p = 0; p < streams.length; p++) {
                if (member.owns(p)) {
                    infos.add(redis.xinfoGroups(streams[p]).toCompletableFuture());
                    asked.add(p);
                }
            }
            CompletableFuture.allOf(infos.toArray(new CompletableFuture[0])).whenComplete((ok, failure) -> {
                Map<Integer, Long> lags = new HashMap<>();
                if (failure == null) {
                    for (int i = 0; i < infos.size(); i++) {
                        Long l = groupLag(infos.get(i).join());
                        if (l != null) {
                            lags.put(asked.get(i), l);
                        }
                    }
                }
                lastLag = Map.copyOf(lags);
                lagRefreshing = false;
            });
        }
        Map<Integer, Long> last = lastLag;
        Map<Integer, Long> owned = new HashMap<>();
        last.forEach((p, l) -> {
            if (member.owns(p)) {
                owned.put(p, l);
            }
        });
        return owned;
    }

    @SuppressWarnings("unchecked")
    private Long groupLag(List<Object> groups) {
        for (Object g : groups) {
            List<Object> fields = (List<Object>) g;
            Object name = null;
            Object lag = null;
            for (int i = 0; i + 1 < fields.size(); i += 2) {
                String field = text(fields.get(i));
                if (field.equals("name")) {
                    name = fields.get(i + 1);
                } else if (field.equals("lag")) {
                    lag = fields.get(i + 1);
                }
            }
            if (name != null && group.equals(text(name))) {
                return lag instanceof Long l ? l : null;
            }
        }
        return null;
    }

    private static String text(Object reply) {
        return reply instanceof byte[] b ? new String(b, java.nio.charset.StandardCharsets.UTF_8) : String.valueOf(reply);
    }

    @Override
    public void ack(Object ackHandle) {
        Delivery d = (Delivery) ackHandle;
        sendAck(streams[d.partition], d.id, 1);
    }

    /**
     * Sends {@code XACK}; a failed one (the connection dropped with it in flight) is sent again a few times, since
     * an entry left pending under this member would only come again when its partition next changes owner.
     */
    private void sendAck(String stream, String id, int attempt) {
        redis.xack(stream, group, id).whenComplete((n, failure) -> {
            if (failure == null) {
                return;
            }
            if (attempt < ACK_ATTEMPTS && !transport.scheduler().isShutdown()) {
                try {
                    transport.scheduler().schedule(() -> sendAck(stream, id, attempt + 1), RETRY_NANOS,
                            TimeUnit.NANOSECONDS);
                    return;
                } catch (java.util.concurrent.RejectedExecutionException closing) {
                    // the transport is closing: give up below
                }
            }
            log.warn("XACK of {} on {} failed {} times (it stays pending and is delivered again when the partition "
                    + "next changes owner): {}", id, stream, attempt, failure.toString());
        });
    }

    /**
     * The message stays pending under this member, marked as idle for longer than {@code claimIdle}
     * ({@code XCLAIM ... IDLE n JUSTID}, which does not count a delivery), so the partition's next owner claims it
     * at once instead of waiting for it as for a member that may still be working on it. Sent before the partition's
     * lease is given up, on the same connection, so Redis applies it first.
     */
    @Override
    public void release(Object ackHandle) {
        Delivery d = (Delivery) ackHandle;
        redis.xclaim(streams[d.partition], me, releasedArgs, d.id);
    }

    /**
     * Deletes {@code consumers} from the group of partition {@code p}'s stream where they have no pending entry left
     * (checked in the same script), so the consumer list does not grow with every member that ever ran. A consumer
     * deleted this way that reads the stream again is created again by Redis.
     */
    private void deleteConsumersWithoutPending(int p, java.util.Collection<String> consumers) {
        if (consumers.isEmpty()) {
            return;
        }
        byte[][] args = new byte[consumers.size() + 1][];
        args[0] = group.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        int i = 1;
        for (String c : consumers) {
            args[i++] = c.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        }
        redis.eval(DELETE_IF_NO_PENDING, io.lettuce.core.ScriptOutputType.INTEGER, new String[] {streams[p]}, args);
    }

    private void releaseBuffered(int p) {
        ArrayDeque<Delivery> buffer = buffers[p];
        if (!buffer.isEmpty()) {
            String[] ids = new String[buffer.size()];
            int i = 0;
            for (Delivery d : buffer) {
                ids[i++] = d.id;
            }
            buffer.clear();
            redis.xclaim(streams[p], me, releasedArgs, ids);
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            member.leave();
            for (int p = 0; p < streams.length; p++) {
                deleteConsumersWithoutPending(p, List.of(me.getName()));
            }
        } finally {
            readerConnection.closeAsync(); // an outstanding blocking read ends with the connection
            CompletableFuture<StatefulRedisConnection<String, byte[]>> connecting = readerConnecting;
            if (connecting != null) {
                connecting.thenAccept(StatefulRedisConnection::closeAsync);
            }
        }
    }

    @Override
    public String toString() {
        return "RedisConsumer{topic=" + topic + ", group=" + group + ", member=" + me.getName() + '}';
    }
}
