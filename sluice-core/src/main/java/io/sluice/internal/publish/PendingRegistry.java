package io.sluice.internal.publish;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * Where the publisher finds its unsettled publishes for flush and close, at the cost of one counter increment and
 * one array exchange per publish: no node, no sweep.
 *
 * <p>Publishes go round a ring of at least twice the pending bound. A slot comes round again only after as many
 * newer publishes, so its occupant has almost always settled; one that has not (a long retry) moves to an overflow
 * queue instead of being forgotten. Settled publishes stay in the ring until overwritten, so it holds at most its
 * own length of completed futures.
 *
 * <p>Thread-safe: any number of publishing threads register; flush and close take snapshots.
 */
final class PendingRegistry {
    private final AtomicReferenceArray<PendingPublish> ring;
    private final int mask;
    private final AtomicLong sequence = new AtomicLong();
    private final ConcurrentLinkedQueue<PendingPublish> overflow = new ConcurrentLinkedQueue<>();

    PendingRegistry(int maxPending) {
        int length = Integer.highestOneBit(Math.max(2, maxPending) * 2 - 1) << 1; // a power of two >= 2 x bound
        this.ring = new AtomicReferenceArray<>(length);
        this.mask = length - 1;
    }

    void register(PendingPublish p) {
        int slot = (int) (sequence.getAndIncrement() & mask);
        PendingPublish displaced = ring.getAndSet(slot, p);
        if (displaced != null && !displaced.isSettled()) {
            overflow.add(displaced);
            overflow.removeIf(PendingPublish::isSettled); // rare: keeps the queue to what is really pending
        }
    }

    /** The publishes not settled at the time of the call (and perhaps some settled meanwhile). */
    List<PendingPublish> unsettled() {
        List<PendingPublish> out = new ArrayList<>();
        for (int i = 0; i < ring.length(); i++) {
            PendingPublish p = ring.get(i);
            if (p != null && !p.isSettled()) {
                out.add(p);
            }
        }
        for (PendingPublish p : overflow) {
            if (!p.isSettled()) {
                out.add(p);
            }
        }
        return out;
    }

    int capacity() {
        return ring.length();
    }
}
