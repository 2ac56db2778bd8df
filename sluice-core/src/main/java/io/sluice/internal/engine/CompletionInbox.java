package io.sluice.internal.engine;

import java.util.concurrent.atomic.AtomicReference;

/**
 * Finished attempts on their way back to the owner thread: a lock-free stack linked through
 * {@link Delivery#nextCompleted}, so posting allocates nothing. Any thread pushes; only the owner drains.
 * The push that finds the stack empty reports it, so the caller wakes the owner once per batch, not per message.
 */
final class CompletionInbox {
    private final AtomicReference<Delivery> head = new AtomicReference<>();

    /** Pushes {@code d}; returns true if the inbox was empty (the owner may be asleep). */
    boolean push(Delivery d) {
        Delivery h;
        do {
            h = head.get();
            d.nextCompleted = h;
        } while (!head.compareAndSet(h, d));
        return h == null;
    }

    boolean isEmpty() {
        return head.get() == null;
    }

    /** Owner: takes everything posted so far, oldest first. */
    Delivery drain() {
        Delivery d = head.getAndSet(null);
        Delivery reversed = null;
        while (d != null) {
            Delivery next = d.nextCompleted;
            d.nextCompleted = reversed;
            reversed = d;
            d = next;
        }
        return reversed;
    }
}
