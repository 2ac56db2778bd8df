package io.sluice.internal.engine;

import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.Predicate;

/**
 * Per-key FIFO lanes: a key with a message in progress maps to its lane's head (the active delivery); messages of
 * the same key fetched meanwhile wait behind it, linked through {@link Delivery#nextInLane}. The head's
 * {@link Delivery#laneTail} is the lane's tail, so appending is O(1) and a lane costs no object of its own.
 *
 * <p>Not thread-safe: owned by the engine's owner thread.
 */
final class KeyLanes {
    private final HashMap<String, Delivery> heads;

    KeyLanes(int expectedKeys) {
        heads = HashMap.newHashMap(expectedKeys);
    }

    /**
     * Adds {@code d} to its key's lane. Returns true if the lane was empty, so {@code d} is now the head and should
     * start; false if it waits behind another message of its key.
     */
    boolean enqueue(Delivery d) {
        Delivery head = heads.putIfAbsent(d.key, d);
        if (head == null) {
            d.laneTail = d;
            return true;
        }
        head.laneTail.nextInLane = d;
        head.laneTail = d;
        return false;
    }

    /** Removes the finished head {@code d}; returns the next delivery of its key (the new head), or null. */
    Delivery advance(Delivery d) {
        Delivery next = d.nextInLane;
        d.nextInLane = null;
        if (next == null) {
            heads.remove(d.key);
            return null;
        }
        next.laneTail = d.laneTail;
        d.laneTail = null;
        heads.put(d.key, next);
        return next;
    }

    /**
     * Unlinks every waiting (non-head) delivery matching {@code drop} and hands it to {@code dropped}. Heads stay:
     * they are running and finish or are cancelled on their own.
     */
    void removeWaiting(Predicate<Delivery> drop, Consumer<Delivery> dropped) {
        for (Iterator<Map.Entry<String, Delivery>> it = heads.entrySet().iterator(); it.hasNext(); ) {
            Delivery head = it.next().getValue();
            Delivery prev = head;
            Delivery d = head.nextInLane;
            while (d != null) {
                Delivery next = d.nextInLane;
                if (drop.test(d)) {
                    prev.nextInLane = next;
                    d.nextInLane = null;
                    dropped.accept(d);
                } else {
                    prev = d;
                }
                d = next;
            }
            head.laneTail = prev;
        }
    }

    int size() {
        return heads.size();
    }
}
