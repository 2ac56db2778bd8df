package io.sluice.middleware;

import io.sluice.Handler;
import io.sluice.Message;
import io.sluice.Middleware;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * Idempotent consumption: skips a message whose id was already handled successfully, among the last
 * {@code capacity} ids handled. At-least-once delivery redelivers after a crash or rebalance; with this middleware a
 * redelivered message that this process already handled is acknowledged without running the handler again.
 *
 * <p>The window is in memory and per process: it removes the duplicates of redelivery within one process, not
 * duplicates across restarts (keep the ids in your own store, transactionally with your side effects, for that).
 * Thread-safe: handlers of different keys call it concurrently. Memory is bounded by {@code capacity}.
 */
public final class Deduplicate implements Middleware {
    private final int capacity;
    private final ConcurrentHashMap<String, Boolean> seen;
    private final AtomicReferenceArray<String> ring;
    private final AtomicLong next = new AtomicLong();

    private Deduplicate(int capacity) {
        if (capacity < 1) {
            throw new IllegalArgumentException("Deduplicate capacity must be at least 1, got " + capacity);
        }
        this.capacity = capacity;
        this.seen = new ConcurrentHashMap<>(capacity * 2);
        this.ring = new AtomicReferenceArray<>(capacity);
    }

    /** Remembers the ids of the last {@code capacity} successfully handled messages. */
    public static Deduplicate lastHandled(int capacity) {
        return new Deduplicate(capacity);
    }

    @Override
    public Handler apply(Handler next) {
        return message -> {
            String id = message.id();
            if (id != null && seen.containsKey(id)) {
                return;
            }
            next.handle(message);
            if (id != null) {
                remember(id);
            }
        };
    }

    /** True if {@code message}'s id is in the window. */
    public boolean seen(Message message) {
        return message.id() != null && seen.containsKey(message.id());
    }

    private void remember(String id) {
        if (seen.putIfAbsent(id, Boolean.TRUE) != null) {
            return;
        }
        int slot = (int) (next.getAndIncrement() % capacity);
        String evicted = ring.getAndSet(slot, id);
        if (evicted != null) {
            seen.remove(evicted);
        }
    }
}
