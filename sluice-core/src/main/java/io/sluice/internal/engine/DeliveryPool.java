package io.sluice.internal.engine;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Predicate;

/**
 * Reusable deliveries, at most one per in-flight message. Grows lazily to the in-flight bound, then allocates no
 * more. Also the engine's index of active deliveries, for the timeout watchdog and for cancellation.
 *
 * <p>Not thread-safe: owned by the engine's owner thread.
 */
final class DeliveryPool {
    private final ConsumerEngine engine;
    private Delivery[] all = new Delivery[64];
    private int created;
    private Delivery[] free = new Delivery[64];
    private int freeCount;

    DeliveryPool(ConsumerEngine engine) {
        this.engine = engine;
    }

    Delivery take() {
        Delivery d;
        if (freeCount > 0) {
            d = free[--freeCount];
            free[freeCount] = null;
        } else {
            d = new Delivery(engine);
            if (created == all.length) {
                all = Arrays.copyOf(all, created * 2);
            }
            d.poolIndex = created;
            all[created++] = d;
        }
        d.active = true;
        return d;
    }

    /** Returns a finished delivery for reuse. */
    void recycle(Delivery d) {
        d.clear();
        if (freeCount == free.length) {
            free = Arrays.copyOf(free, free.length * 2);
        }
        free[freeCount++] = d;
    }

    /**
     * Drops a delivery whose attempt was cancelled while it may still run: the abandoned virtual thread keeps a
     * reference, so the object must never carry another message.
     */
    void discard(Delivery d) {
        d.active = false;
        int i = d.poolIndex;
        Delivery last = all[--created];
        all[i] = last;
        last.poolIndex = i;
        all[created] = null;
    }

    /** The active deliveries matching {@code filter}, collected first so the caller may recycle them. */
    List<Delivery> activeWhere(Predicate<Delivery> filter) {
        List<Delivery> out = null;
        for (int i = 0; i < created; i++) {
            Delivery d = all[i];
            if (d.active && filter.test(d)) {
                if (out == null) {
                    out = new ArrayList<>();
                }
                out.add(d);
            }
        }
        return out == null ? List.of() : out;
    }
}
