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
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * One member's view of its consumer group, kept in a JetStream key-value bucket (NATS 2.9 has no consumer groups),
 * and the writes that change it. Under the prefix {@code <topic>.<group>} (escaped):
 *
 * <pre>
 * m.&lt;member&gt;     heartbeat: put every nats.group.heartbeatInterval; deleted when the member leaves
 * p.&lt;partition&gt;  lease: "&lt;member&gt;" while that member owns the partition; deleted when it let go cleanly;
 *                  "~&lt;member&gt;" when it let go without the server confirming its releases (the next owner holds)
 * </pre>
 *
 * <p>Liveness is judged by this member's own monotonic clock: a member is alive while this member saw a new revision
 * of its heartbeat at most {@code sessionTimeout} ago. Server and client wall clocks play no part, so a clock step or
 * skew cannot make a live member look dead. A member seen for the first time (on joining, or after this member's
 * connection came back, see {@link #resetLiveness}) counts as alive for one session timeout.
 *
 * <p>Alive members sorted by id split the partitions: partition {@code p} belongs to {@code alive[p % alive.size()]}.
 * Every lease write is a compare-and-set: a member creates a free lease, replaces a released or dead holder's lease
 * at the revision it read, and rewrites or gives up its own lease only at the revision its own last write returned.
 * So a member can never delete or overwrite a lease another member took meanwhile.
 *
 * <p>Threads: the watcher (a jnats thread) updates the view, which is made of immutable records swapped atomically;
 * {@link #heartbeat} is called by the keep-alive thread; lease writes by the group coordinator thread. Any thread may
 * read the view.
 */
final class GroupMembership implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(GroupMembership.class);
    private static final String RELEASED_UNCONFIRMED = "~";

    /**
     * A partition's lease as the bucket last showed it.
     *
     * @param holder   the member owning it, or null when free
     * @param dirty    free, but its last holder let go without confirmed releases: its messages may still be
     *                 waiting for their ack wait, so the next owner must hold its first fetch
     * @param revision the entry's revision (of the delete marker, for a clean release)
     */
    record Lease(String holder, boolean dirty, long revision) {
    }

    /**
     * A lease this member just took.
     *
     * @param revision           the revision of this member's write
     * @param mayHaveUnacked     the previous holder may have left messages unacknowledged and not released (it died,
     *                           stalled, or let go unconfirmed): fetching waits until the server redelivers them
     * @param previous           who held it before, for the log; null when it was free
     */
    record Acquired(long revision, boolean mayHaveUnacked, String previous) {
    }

    /** The newest heartbeat revision seen of a member, and when (System.nanoTime) this member saw it. */
    private record Seen(long revision, long atNanos) {
    }

    private final KeyValue kv;
    private final String prefix;
    private final String me;
    private final byte[] meBytes;
    private final int partitions;
    private final long sessionNanos;
    private final Runnable onChange;
    private final String myKey;
    private final Map<String, Seen> members = new ConcurrentHashMap<>();
    private final AtomicReferenceArray<Lease> leases;
    private volatile NatsKeyValueWatchSubscription watch;

    GroupMembership(KeyValue kv, String topic, String group, String memberId, int partitions, long sessionNanos,
                    Runnable onChange) {
        this.kv = kv;
        this.prefix = Names.escape(topic) + "." + Names.escape(group);
        this.me = memberId;
        this.meBytes = memberId.getBytes(StandardCharsets.UTF_8);
        this.partitions = partitions;
        this.sessionNanos = sessionNanos;
        this.onChange = onChange;
        this.myKey = prefix + ".m." + me;
        this.leases = new AtomicReferenceArray<>(partitions);
    }

    /** Writes the first heartbeat (failing if it cannot) and starts watching the group. */
    void join() throws IOException, JetStreamApiException, InterruptedException {
        kv.put(myKey, meBytes);
        watch = kv.watch(prefix + ".>", new Watcher());
    }

    /** Writes a heartbeat. @return true if the server stored it */
    boolean heartbeat() {
        try {
            kv.put(myKey, meBytes);
            return true;
        } catch (IOException | JetStreamApiException | RuntimeException e) {
            log.debug("Heartbeat of member {} in {} failed: {}", me, prefix, e.toString());
            return false;
        }
    }

    /**
     * Counts every known member as seen now. Called after this member's connection came back: while it was away it
     * saw no heartbeats, which says nothing about the others.
     */
    void resetLiveness(long nowNanos) {
        members.replaceAll((m, s) -> new Seen(s.revision, nowNanos));
    }

    /** Alive members, sorted; always includes this member. */
    List<String> alive(long nowNanos) {
        List<String> alive = new ArrayList<>();
        alive.add(me);
        for (Map.Entry<String, Seen> e : members.entrySet()) {
            if (!e.getKey().equals(me) && nowNanos - e.getValue().atNanos <= sessionNanos) {
                alive.add(e.getKey());
            }
        }
        alive.sort(null);
        return alive;
    }

    private boolean isAlive(String member, long nowNanos) {
        Seen s = members.get(member);
        return member.equals(me) || (s != null && nowNanos - s.atNanos <= sessionNanos);
    }

    /** The partitions this member should own under the current view. */
    boolean[] target(long nowNanos) {
        List<String> alive = alive(nowNanos);
        int index = alive.indexOf(me);
        boolean[] target = new boolean[partitions];
        for (int p = index; p < partitions; p += alive.size()) {
            target[p] = true;
        }
        return target;
    }

    /** The lease of {@code partition} as last seen, or null when its key never existed (or expired). */
    Lease lease(int partition) {
        return leases.get(partition);
    }

    /**
     * True if the view shows that {@code partition}'s lease, which this member wrote at {@code myRevision}, has since
     * been replaced or deleted by someone else.
     */
    boolean lostSince(int partition, long myRevision) {
        Lease l = leases.get(partition);
        return l != null && l.revision > myRevision && !me.equals(l.holder);
    }

    /**
     * Tries to take the lease of {@code partition}: creates it when free, or replaces it at the revision seen when it
     * was released unconfirmed or its holder is no longer alive.
     *
     * @return the new lease, or null when a live member holds it, a concurrent write won, or the bucket failed
     */
    Acquired acquire(int partition, long nowNanos) {
        Lease l = leases.get(partition);
        String key = leaseKey(partition);
        try {
            Acquired a;
            if (l == null || (l.holder == null && !l.dirty)) {
                // create() also takes a key whose last entry is a delete marker
                a = new Acquired(kv.create(key, meBytes), false, null);
            } else if (l.holder == null) {
                a = new Acquired(kv.update(key, meBytes, l.revision), true, null);
            } else if (l.holder.equals(me) || !isAlive(l.holder, nowNanos)) {
                // Its holder is gone (or it is a lease of this member's it no longer tracks): it may have left
                // messages unacknowledged, so the caller holds fetching if the consumer has any.
                a = new Acquired(kv.update(key, meBytes, l.revision), true, l.holder);
            } else {
                return null;
            }
            applyLease(partition, new Lease(me, false, a.revision));
            return a;
        } catch (JetStreamApiException e) {
            // The lease is not what the view says: someone else wrote it first, or the watch lags behind (jnats'
            // watch can stay silent for half a minute after a reconnect). Read it from the bucket, so the next try
            // works from what is there rather than waiting for the watch.
            reload(partition);
            return null;
        } catch (IOException | RuntimeException e) {
            log.debug("Taking the lease of partition {} in {} failed: {}", partition, prefix, e.toString());
            return null;
        }
    }

    /** Replaces the view of {@code partition}'s lease with the bucket's latest entry for it. */
    private void reload(int partition) {
        try {
            List<KeyValueEntry> history = kv.history(leaseKey(partition));
            if (history.isEmpty()) {
                leases.set(partition, null); // never written, or expired: create() takes it
            } else {
                applyLease(partition, leaseOf(history.get(history.size() - 1)));
            }
        } catch (IOException | JetStreamApiException | RuntimeException e) {
            log.debug("Reading the lease of partition {} in {} failed: {}", partition, prefix, e.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** The lease a bucket entry records: a holder, free, or free after a release that was not confirmed. */
    private static Lease leaseOf(KeyValueEntry entry) {
        String value = entry.getOperation() == KeyValueOperation.PUT ? entry.getValueAsString() : null;
        return value == null ? new Lease(null, false, entry.getRevision())
                : value.startsWith(RELEASED_UNCONFIRMED) ? new Lease(null, true, entry.getRevision())
                : new Lease(value, false, entry.getRevision());
    }

    /** Outcome of a lease rewrite: the new revision, or one of these. */
    static final long LOST = -1;
    static final long UNKNOWN = 0;

    /**
     * Rewrites this member's lease of {@code partition} at {@code myRevision}, so the bucket's one-day expiry never
     * removes a lease in use, and so a lease another member replaced is noticed.
     *
     * @return the new revision; {@link #LOST} if the lease is no longer this member's; {@link #UNKNOWN} if the
     *         bucket did not answer
     */
    long refresh(int partition, long myRevision) {
        try {
            long revision = kv.update(leaseKey(partition), meBytes, myRevision);
            applyLease(partition, new Lease(me, false, revision));
            return revision;
        } catch (JetStreamApiException e) {
            return LOST;
        } catch (IOException | RuntimeException e) {
            log.debug("Refreshing the lease of partition {} in {} failed: {}", partition, prefix, e.toString());
            return UNKNOWN;
        }
    }

    /**
     * Gives up this member's lease of {@code partition}, written at {@code myRevision}: deletes it when the releases
     * of its messages were confirmed, otherwise marks it released-unconfirmed so the next owner holds its first fetch.
     * Either write is at {@code myRevision}, so a lease another member took meanwhile is left alone.
     *
     * @return false if the bucket did not answer (try again); true when done or when the lease had moved
     */
    boolean release(int partition, long myRevision, boolean releasesConfirmed) {
        String key = leaseKey(partition);
        try {
            if (releasesConfirmed) {
                kv.delete(key, myRevision);
            } else {
                kv.update(key, (RELEASED_UNCONFIRMED + me).getBytes(StandardCharsets.UTF_8), myRevision);
            }
            return true;
        } catch (JetStreamApiException e) {
            log.debug("Lease of partition {} in {} moved on before member {} released it ({})", partition, prefix, me,
                    e.getMessage());
            return true;
        } catch (IOException | RuntimeException e) {
            log.debug("Releasing partition {} in {} failed ({}); trying again", partition, prefix, e.toString());
            return false;
        }
    }

    private void applyLease(int partition, Lease next) {
        // Only move forward: a watcher event older than a write already applied must not undo it.
        while (true) {
            Lease current = leases.get(partition);
            if (current != null && current.revision >= next.revision) {
                return;
            }
            if (leases.compareAndSet(partition, current, next)) {
                return;
            }
        }
    }

    private String leaseKey(int partition) {
        return prefix + ".p." + partition;
    }

    /** Deletes the heartbeat, so others rebalance at once, and stops watching. */
    void leave() {
        try {
            kv.delete(myKey);
        } catch (IOException | JetStreamApiException | RuntimeException e) {
            log.debug("Deleting the heartbeat of {} failed: {}; it counts as gone after the session timeout", me,
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
            if (key.length() <= prefix.length() + 1) {
                return;
            }
            String rest = key.substring(prefix.length() + 1);
            boolean put = entry.getOperation() == KeyValueOperation.PUT;
            long revision = entry.getRevision();
            boolean significant;
            if (rest.startsWith("m.")) {
                String member = rest.substring(2);
                if (member.equals(me)) {
                    return;
                }
                if (put) {
                    long now = System.nanoTime();
                    Seen before = members.get(member);
                    members.merge(member, new Seen(revision, now),
                            (old, seen) -> seen.revision > old.revision ? seen : old);
                    significant = before == null;
                } else {
                    significant = members.remove(member) != null;
                }
            } else if (rest.startsWith("p.")) {
                int partition;
                try {
                    partition = Integer.parseInt(rest.substring(2));
                } catch (NumberFormatException e) {
                    return;
                }
                if (partition < 0 || partition >= partitions) {
                    return;
                }
                applyLease(partition, leaseOf(entry));
                significant = true;
            } else {
                return;
            }
            if (significant) {
                onChange.run();
            }
        }

        @Override
        public void endOfData() {
            onChange.run();
        }
    }
}
