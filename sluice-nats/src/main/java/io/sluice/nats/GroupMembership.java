package io.sluice.nats;

import io.nats.client.JetStreamApiException;
import io.nats.client.KeyValue;
import io.nats.client.api.KeyValueEntry;
import io.nats.client.api.KeyValueOperation;
import io.nats.client.api.KeyValueWatcher;
import io.nats.client.impl.NatsKeyValueWatchSubscription;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * One member's view of its consumer group, kept in a JetStream key-value bucket (NATS 2.9 has no consumer groups).
 * Under the prefix {@code <topic>.<group>} (escaped):
 *
 * <pre>
 * m.&lt;member&gt;     heartbeat: put every nats.group.heartbeatInterval; deleted when the member leaves
 * p.&lt;partition&gt;  lease: the member that owns the partition; created when free, deleted when let go
 * </pre>
 *
 * <p>A member is alive while its latest heartbeat is at most {@code nats.group.sessionTimeout} older than the
 * newest heartbeat anyone in the group wrote. Both times are the server's (the entries' creation times), so client
 * clocks do not matter. Alive members sorted by id split the partitions: partition {@code p} belongs to
 * {@code alive[p % alive.size()]}. A member takes a partition only by creating its lease (or, if the lease holder is
 * no longer alive, by replacing the lease at the revision it read), so a partition never has two owners by the
 * bucket's account; a member that finds its lease replaced stops consuming that partition.
 *
 * <p>A watcher (jnats' thread) keeps the view current and calls {@code onChange} when membership or leases change;
 * everything else is called by the consumer's poll thread.
 */
final class GroupMembership implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(GroupMembership.class);

    private final KeyValue kv;
    private final String prefix;
    private final String me;
    private final int partitions;
    private final long sessionMillis;
    private final Runnable onChange;
    private final String myKey;

    // Written by the watcher thread (and by the poll thread after its own lease writes), read by the poll thread.
    private final Map<String, Long> lastSeen = new ConcurrentHashMap<>();
    private final AtomicReferenceArray<String> leaseOwner;
    private final AtomicLongArray leaseRevision;
    private volatile long newestHeartbeat;
    private volatile boolean changed = true;
    private NatsKeyValueWatchSubscription watch;

    GroupMembership(KeyValue kv, String topic, String group, String memberId, int partitions, long sessionMillis,
                    Runnable onChange) {
        this.kv = kv;
        this.prefix = Names.escape(topic) + "." + Names.escape(group);
        this.me = memberId;
        this.partitions = partitions;
        this.sessionMillis = sessionMillis;
        this.onChange = onChange;
        this.myKey = prefix + ".m." + me;
        this.leaseOwner = new AtomicReferenceArray<>(partitions);
        this.leaseRevision = new AtomicLongArray(partitions);
    }

    /** Writes the first heartbeat and starts watching the group. */
    void join() throws IOException, JetStreamApiException, InterruptedException {
        heartbeat();
        watch = kv.watch(prefix + ".>", new Watcher());
    }

    /** Writes a heartbeat; failures are logged and tried again on the next beat. */
    void heartbeat() {
        try {
            kv.put(myKey, me);
        } catch (IOException | JetStreamApiException | RuntimeException e) {
            log.debug("Heartbeat of member {} in {} failed: {}", me, prefix, e.toString());
        }
    }

    /** True once after the view changed (a member came or went, a lease moved). */
    boolean takeChanged() {
        if (!changed) {
            return false;
        }
        changed = false;
        return true;
    }

    boolean hasChanged() {
        return changed;
    }

    /** Alive members, sorted; always includes this member. */
    List<String> alive() {
        long newest = newestHeartbeat;
        List<String> alive = new ArrayList<>();
        for (Map.Entry<String, Long> e : lastSeen.entrySet()) {
            if (newest - e.getValue() <= sessionMillis) {
                alive.add(e.getKey());
            }
        }
        if (!alive.contains(me)) {
            alive.add(me);
        }
        alive.sort(null);
        return alive;
    }

    private boolean isAlive(String member) {
        Long seen = lastSeen.get(member);
        return seen != null && newestHeartbeat - seen <= sessionMillis;
    }

    /** The partitions this member should own under the current view. */
    boolean[] target() {
        List<String> alive = alive();
        int index = alive.indexOf(me);
        boolean[] target = new boolean[partitions];
        for (int p = index; p < partitions; p += alive.size()) {
            target[p] = true;
        }
        return target;
    }

    /** The member holding the lease of {@code partition} in this view, or null when it is free. */
    String leaseHolder(int partition) {
        return leaseOwner.get(partition);
    }

    /** True if another member now holds the lease of {@code partition} (this member lost it). */
    boolean leaseTakenByOther(int partition) {
        String owner = leaseOwner.get(partition);
        return owner != null && !owner.equals(me);
    }

    /**
     * Tries to take the lease of {@code partition}: creates it when free, or replaces it when its holder is no
     * longer alive. False when another live member holds it or a concurrent write won.
     */
    boolean acquire(int partition) {
        String owner = leaseOwner.get(partition);
        String key = leaseKey(partition);
        try {
            long revision;
            if (owner == null) {
                revision = kv.create(key, me.getBytes(java.nio.charset.StandardCharsets.UTF_8));
            } else if (owner.equals(me)) {
                return true;
            } else if (!isAlive(owner)) {
                revision = kv.update(key, me, leaseRevision.get(partition));
                log.info("Member {} took partition {} of {} over from {}, whose heartbeats stopped", me, partition,
                        prefix, owner);
            } else {
                return false;
            }
            applyLease(partition, me, revision);
            return true;
        } catch (JetStreamApiException e) {
            return false; // someone else wrote the lease first; the watcher will tell us who
        } catch (IOException | RuntimeException e) {
            log.debug("Taking the lease of partition {} in {} failed: {}", partition, prefix, e.toString());
            return false;
        }
    }

    /**
     * Rewrites this member's lease of {@code partition} at the revision it last saw, so the bucket's one-day expiry
     * never removes a lease still in use, and so a lease another member replaced is noticed.
     *
     * @return false if the lease is no longer this member's
     */
    boolean refresh(int partition) {
        try {
            long revision = kv.update(leaseKey(partition), me, leaseRevision.get(partition));
            applyLease(partition, me, revision);
            return true;
        } catch (JetStreamApiException e) {
            return false;
        } catch (IOException | RuntimeException e) {
            log.debug("Refreshing the lease of partition {} in {} failed: {}", partition, prefix, e.toString());
            return true; // unknown: try again on the next refresh
        }
    }

    /** Gives the lease of {@code partition} up so the member it should move to can take it. */
    void release(int partition) {
        try {
            long revision = leaseRevision.get(partition);
            if (me.equals(leaseOwner.get(partition)) && revision > 0) {
                kv.delete(leaseKey(partition), revision);
            } else {
                kv.delete(leaseKey(partition));
            }
        } catch (IOException | JetStreamApiException | RuntimeException e) {
            log.debug("Releasing partition {} in {} failed ({}); it frees when this member's heartbeats stop", partition,
                    prefix, e.toString());
        }
    }

    private void applyLease(int partition, String owner, long revision) {
        // Only move forward: a watcher event older than our own write must not undo it.
        long seen = leaseRevision.get(partition);
        if (revision > seen && leaseRevision.compareAndSet(partition, seen, revision)) {
            leaseOwner.set(partition, owner);
        }
    }

    private String leaseKey(int partition) {
        return prefix + ".p." + partition;
    }

    /** Leaves the group: releases {@code owned} leases and deletes the heartbeat, so others rebalance at once. */
    void leave(List<Integer> owned) {
        for (int p : owned) {
            release(p);
        }
        try {
            kv.delete(myKey);
        } catch (IOException | JetStreamApiException | RuntimeException e) {
            log.debug("Deleting the heartbeat of {} failed: {}; it expires after the session timeout", me,
                    e.toString());
        }
        close();
    }

    @Override
    public void close() {
        NatsKeyValueWatchSubscription w = watch;
        watch = null;
        if (w != null) {
            try {
                w.unsubscribe();
            } catch (RuntimeException e) {
                // connection closing
            }
        }
    }

    String memberId() {
        return me;
    }

    private final class Watcher implements KeyValueWatcher {
        @Override
        public void watch(KeyValueEntry entry) {
            String key = entry.getKey();
            String rest = key.substring(prefix.length() + 1);
            boolean put = entry.getOperation() == KeyValueOperation.PUT;
            boolean significant;
            if (rest.startsWith("m.")) {
                String member = rest.substring(2);
                if (put) {
                    long created = entry.getCreated().toInstant().toEpochMilli();
                    if (created > newestHeartbeat) {
                        newestHeartbeat = created;
                    }
                    significant = lastSeen.put(member, created) == null;
                } else {
                    significant = lastSeen.remove(member) != null;
                }
            } else if (rest.startsWith("p.")) {
                int partition;
                try {
                    partition = Integer.parseInt(rest.substring(2));
                } catch (NumberFormatException e) {
                    return;
                }
                if (partition >= partitions) {
                    return;
                }
                applyLease(partition, put ? entry.getValueAsString() : null, entry.getRevision());
                significant = true;
            } else {
                return;
            }
            if (significant) {
                changed = true;
                onChange.run();
            }
        }

        @Override
        public void endOfData() {
            changed = true;
            onChange.run();
        }
    }
}
