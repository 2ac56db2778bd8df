package io.sluice.redis;

import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.api.async.RedisAsyncCommands;
import io.sluice.spi.support.MembershipStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * One member's {@link MembershipStore} kept in Redis, so that members in different processes agree on the group.
 *
 * <ul>
 * <li>Members: a sorted set {@code member -> expiry} (server time, ms). Every heartbeat (a Lua script) drops expired
 * members, sets this member's expiry to now + session timeout, renews the leases it holds and returns the live
 * members (sorted by id: the order every member sees alike) and the holder of every lease.</li>
 * <li>Leases: one string key per partition holding the member id, with the session timeout as its TTL
 * ({@code SET PX}). A member takes a lease with a compare-and-set script: only if it is free, already its own, or
 * held by a member that is no longer alive; only the holder deletes it. A member that dies stops renewing: its lease
 * expires and its partitions move.</li>
 * </ul>
 * All times are the Redis server's ({@code TIME} in the scripts), so clocks of client machines do not matter.
 *
 * <p>Nothing here blocks the poll thread on Redis, except the first heartbeat when joining: {@link #members()},
 * {@link #generation()} and {@link #holds} answer from a local view updated by the heartbeat's reply;
 * {@link #tryAcquire} starts the lease write and returns false until it succeeded, then calls the change callback.
 * A member whose heartbeats fail for a session timeout treats its leases as lost (the others may have taken them).
 *
 * <p>Thread ownership: the {@link MembershipStore} methods are called by the member's poll thread; heartbeats run on
 * the transport's scheduler thread and their replies on a Lettuce thread. Shared state is in atomics and volatile
 * fields; no lock.
 */
final class RedisMembership implements MembershipStore {
    private static final Logger log = LoggerFactory.getLogger(RedisMembership.class);

    private static final String NOW = "local t = redis.call('TIME') "
            + "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) ";
    /** KEYS: members, lease 0..n-1. ARGV: member id, session timeout ms. */
    private static final String HEARTBEAT = NOW
            + "local ttl = tonumber(ARGV[2]) "
            + "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now) "
            + "redis.call('ZADD', KEYS[1], now + ttl, ARGV[1]) "
            + "redis.call('PEXPIRE', KEYS[1], ttl * 3) "
            + "local holders = {} "
            + "for i = 2, #KEYS do "
            + "  local h = redis.call('GET', KEYS[i]) "
            + "  if h == ARGV[1] then redis.call('PEXPIRE', KEYS[i], ttl) end "
            + "  holders[i - 1] = h or '' "
            + "end "
            + "return {redis.call('ZRANGE', KEYS[1], 0, -1), holders}";
    /** KEYS: members, lease. ARGV: member id, session timeout ms. */
    private static final String ACQUIRE = NOW
            + "local h = redis.call('GET', KEYS[2]) "
            + "if h == ARGV[1] then redis.call('PEXPIRE', KEYS[2], ARGV[2]) return 1 end "
            + "local mine = redis.call('ZSCORE', KEYS[1], ARGV[1]) "
            + "if not mine or tonumber(mine) <= now then return 0 end "
            + "if h then "
            + "  local s = redis.call('ZSCORE', KEYS[1], h) "
            + "  if s and tonumber(s) > now then return 0 end "
            + "end "
            + "redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2]) "
            + "return 1";
    /** KEYS: lease. ARGV: member id. */
    private static final String RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then "
            + "redis.call('DEL', KEYS[1]) return 1 end return 0";
    /** KEYS: members, lease 0..n-1. ARGV: member id. */
    private static final String LEAVE = "redis.call('ZREM', KEYS[1], ARGV[1]) "
            + "for i = 2, #KEYS do "
            + "  if redis.call('GET', KEYS[i]) == ARGV[1] then redis.call('DEL', KEYS[i]) end "
            + "end return 1";

    private static final int FREE = 0;
    private static final int ACQUIRING = 1;
    /** Won, but not shown as held until the other lease writes sent with it completed too. */
    private static final int ACQUIRED = 2;
    private static final int HELD = 3;

    private final RedisAsyncCommands<String, byte[]> redis;
    private final String memberId;
    private final byte[] memberBytes;
    private final byte[] ttlBytes;
    private final long sessionNanos;
    private final String[] heartbeatKeys;
    private final String[] leaseKeys;
    private final Runnable onChange;
    private final AtomicIntegerArray state;
    /** Moves on every acquire and release, so a heartbeat reply sent before one cannot undo it. */
    private final AtomicLongArray epochs;
    private final AtomicLong generation = new AtomicLong();
    private final AtomicBoolean heartbeatInFlight = new AtomicBoolean();
    /** Lease writes under way; the partitions they won become held together when the last one completes. */
    private final java.util.concurrent.atomic.AtomicInteger acquiring = new java.util.concurrent.atomic.AtomicInteger();
    private volatile List<String> members = List.of();
    /** Moves with every heartbeat reply applied: a lease write that failed is tried again only on a newer view. */
    private final AtomicLong views = new AtomicLong();
    /** The view in which the last lease write of each partition failed; -1: none. */
    private final AtomicLongArray failedInView;
    private volatile String[] holders;
    private volatile long lastHeartbeatNanos;
    private volatile boolean left;
    private volatile ScheduledFuture<?> heartbeats;

    /**
     * Joins: one heartbeat, waited for (at most {@code timeout}), so the member is in {@link #members()} at once;
     * then heartbeats every {@code interval} on {@code scheduler}.
     */
    RedisMembership(RedisAsyncCommands<String, byte[]> redis, String membersKey, String[] leaseKeys, String memberId,
                    Duration sessionTimeout, Duration interval, Duration timeout, ScheduledExecutorService scheduler,
                    Runnable onChange) {
        this.redis = redis;
        this.memberId = memberId;
        this.memberBytes = memberId.getBytes(StandardCharsets.UTF_8);
        this.ttlBytes = Long.toString(sessionTimeout.toMillis()).getBytes(StandardCharsets.US_ASCII);
        this.sessionNanos = sessionTimeout.toNanos();
        this.leaseKeys = leaseKeys;
        this.heartbeatKeys = new String[leaseKeys.length + 1];
        heartbeatKeys[0] = membersKey;
        System.arraycopy(leaseKeys, 0, heartbeatKeys, 1, leaseKeys.length);
        this.onChange = onChange;
        this.state = new AtomicIntegerArray(leaseKeys.length);
        this.epochs = new AtomicLongArray(leaseKeys.length);
        this.failedInView = new AtomicLongArray(leaseKeys.length);
        for (int p = 0; p < leaseKeys.length; p++) {
            failedInView.set(p, -1);
        }
        String[] none = new String[leaseKeys.length];
        Arrays.fill(none, "");
        this.holders = none;
        try {
            heartbeat().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (Exception e) {
            throw new IllegalStateException("could not join group (" + membersKey + ") in Redis: " + e.getMessage(),
                    e);
        }
        this.heartbeats = scheduler.scheduleWithFixedDelay(this::heartbeatQuietly, interval.toNanos(),
                interval.toNanos(), TimeUnit.NANOSECONDS);
    }

    private void heartbeatQuietly() {
        if (left || !heartbeatInFlight.compareAndSet(false, true)) {
            return;
        }
        heartbeat().whenComplete((r, e) -> heartbeatInFlight.set(false));
    }

    private java.util.concurrent.CompletableFuture<Void> heartbeat() {
        long[] sentEpochs = new long[leaseKeys.length];
        for (int p = 0; p < sentEpochs.length; p++) {
            sentEpochs[p] = epochs.get(p);
        }
        long sentNanos = System.nanoTime();
        return redis.<List<Object>>eval(HEARTBEAT, ScriptOutputType.MULTI, heartbeatKeys, memberBytes, ttlBytes)
                .toCompletableFuture()
                .handle((reply, failure) -> {
                    if (failure != null) {
                        heartbeatFailed(failure);
                    } else {
                        applyHeartbeat(reply, sentEpochs, sentNanos);
                    }
                    return null;
                });
    }

    @SuppressWarnings("unchecked")
    private void applyHeartbeat(List<Object> reply, long[] sentEpochs, long sentNanos) {
        if (left) {
            return;
        }
        lastHeartbeatNanos = sentNanos;
        List<Object> memberReply = (List<Object>) reply.get(0);
        List<Object> holderReply = (List<Object>) reply.get(1);
        List<String> ids = new ArrayList<>(memberReply.size());
        for (Object o : memberReply) {
            ids.add(new String((byte[]) o, StandardCharsets.UTF_8));
        }
        Collections.sort(ids);
        String[] seen = new String[leaseKeys.length];
        for (int p = 0; p < seen.length; p++) {
            seen[p] = new String((byte[]) holderReply.get(p), StandardCharsets.UTF_8);
        }
        views.incrementAndGet();
        boolean changed = false;
        for (int p = 0; p < leaseKeys.length; p++) {
            if (failedInView.getAndSet(p, -1) >= 0) {
                changed = true; // a lease write refused in an older view: the group tries again in this one
            }
        }
        if (!ids.equals(members)) {
            members = Collections.unmodifiableList(ids);
            generation.incrementAndGet();
            changed = true;
        }
        for (int p = 0; p < seen.length; p++) {
            if (state.get(p) == HELD && !memberId.equals(seen[p]) && epochs.get(p) == sentEpochs[p]
                    && state.compareAndSet(p, HELD, FREE)) {
                epochs.incrementAndGet(p);
                generation.incrementAndGet();
                log.warn("member {} lost the lease of {} (now held by '{}')", memberId, leaseKeys[p], seen[p]);
                changed = true;
            }
        }
        if (!Arrays.equals(seen, holders)) {
            holders = seen;
            changed = true;
        }
        if (changed) {
            onChange.run();
        }
    }

    private void heartbeatFailed(Throwable failure) {
        if (left) {
            return;
        }
        log.warn("heartbeat of group member {} failed: {}", memberId, failure.toString());
        if (System.nanoTime() - lastHeartbeatNanos > sessionNanos) {
            boolean lost = false;
            for (int p = 0; p < leaseKeys.length; p++) {
                if (state.compareAndSet(p, HELD, FREE)) {
                    epochs.incrementAndGet(p);
                    lost = true;
                }
            }
            if (lost) {
                generation.incrementAndGet();
                log.warn("member {} had no heartbeat for a session timeout: its leases count as lost", memberId);
                onChange.run();
            }
        }
    }

    @Override
    public String memberId() {
        return memberId;
    }

    @Override
    public int partitions() {
        return leaseKeys.length;
    }

    @Override
    public List<String> members() {
        List<String> m = members;
        if (left) {
            return List.of();
        }
        if (!m.contains(memberId)) { // joined, but a heartbeat reply older than the join may show it missing
            List<String> withSelf = new ArrayList<>(m);
            withSelf.add(memberId);
            Collections.sort(withSelf);
            return withSelf;
        }
        return new ArrayList<>(m);
    }

    @Override
    public long generation() {
        return generation.get();
    }

    @Override
    public boolean tryAcquire(int partition) {
        int s = state.get(partition);
        if (s == HELD) {
            return true;
        }
        if (s == ACQUIRING || s == ACQUIRED || left) {
            return false;
        }
        String holder = holders[partition];
        if (!holder.isEmpty() && !holder.equals(memberId) && members.contains(holder)) {
            return false; // a live member holds it: the heartbeat that shows it released calls onChange
        }
        long view = views.get();
        if (failedInView.get(partition) == view) {
            return false; // refused in this very view: wait for the next heartbeat rather than ask again at once
        }
        if (!state.compareAndSet(partition, FREE, ACQUIRING)) {
            return false;
        }
        acquiring.incrementAndGet();
        redis.<Long>eval(ACQUIRE, ScriptOutputType.INTEGER, new String[] {heartbeatKeys[0], leaseKeys[partition]},
                memberBytes, ttlBytes).whenComplete((taken, failure) -> {
                    if (failure == null && taken != null && taken == 1L) {
                        epochs.incrementAndGet(partition);
                        state.compareAndSet(partition, ACQUIRING, ACQUIRED);
                    } else {
                        failedInView.set(partition, view);
                        state.compareAndSet(partition, ACQUIRING, FREE);
                        if (failure != null) {
                            log.warn("member {} could not take the lease of {}: {}", memberId, leaseKeys[partition],
                                    failure.toString());
                        }
                    }
                    if (acquiring.decrementAndGet() == 0) {
                        // The partitions one rebalance asked for are assigned together, in one listener call.
                        for (int p = 0; p < leaseKeys.length; p++) {
                            if (state.compareAndSet(p, ACQUIRED, HELD) && left) {
                                release(p);
                            }
                        }
                        onChange.run();
                    }
                });
        return false;
    }

    /**
     * Once no heartbeat succeeded for a session timeout (the leases may be another member's by now), counts the held
     * leases as lost and moves the generation; true if it did. The poll loop asks on every turn, so a member whose
     * heartbeat thread stalled gives its partitions up as lost even before a heartbeat tells it.
     */
    boolean loseLeasesIfExpired() {
        if (System.nanoTime() - lastHeartbeatNanos < sessionNanos) {
            return false;
        }
        boolean lost = false;
        for (int p = 0; p < leaseKeys.length; p++) {
            if (state.compareAndSet(p, HELD, FREE)) {
                epochs.incrementAndGet(p);
                lost = true;
            }
        }
        if (lost) {
            generation.incrementAndGet();
            log.warn("member {} had no heartbeat for a session timeout: its leases count as lost", memberId);
        }
        return lost;
    }

    @Override
    public boolean holds(int partition) {
        return state.get(partition) == HELD && System.nanoTime() - lastHeartbeatNanos < sessionNanos;
    }

    @Override
    public void release(int partition) {
        if (state.getAndSet(partition, FREE) == FREE) {
            return;
        }
        epochs.incrementAndGet(partition);
        redis.eval(RELEASE, ScriptOutputType.INTEGER, new String[] {leaseKeys[partition]}, memberBytes);
    }

    @Override
    public void leave() {
        if (left) {
            return;
        }
        left = true;
        ScheduledFuture<?> h = heartbeats;
        if (h != null) {
            h.cancel(false);
        }
        for (int p = 0; p < leaseKeys.length; p++) {
            state.set(p, FREE);
            epochs.incrementAndGet(p);
        }
        generation.incrementAndGet();
        redis.eval(LEAVE, ScriptOutputType.INTEGER, heartbeatKeys, memberBytes);
    }

    @Override
    public String toString() {
        return memberId;
    }
}
