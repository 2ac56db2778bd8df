package io.sluice.spi.support;

import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;

/**
 * Parks a transport consumer's poll thread until there may be something to do, its poll deadline passes, or another
 * thread wakes it. For transport authors: a {@code TransportConsumer.poll} loop fetches, and when it found nothing
 * calls {@link #await}; whatever can give it work (a writer appending records, a group changing its assignment, the
 * engine calling {@code wakeup()}) calls {@link #signal} or {@link #wakeup}.
 *
 * <pre>{@code
 * waiter.enter();
 * long deadline = System.nanoTime() + timeoutNanos;
 * while (true) {
 *     int delivered = fetch(sink);
 *     if (waiter.consumeWakeup() | delivered > 0) return;   // consume a wakeup either way
 *     if (!waiter.await(deadline, ready)) return;          // ready: a BooleanSupplier kept in a field
 * }
 * }</pre>
 *
 * <p>Thread ownership: {@link #enter}, {@link #await} and {@link #consumeWakeup} belong to one poll thread at a time
 * (the owner, the thread that last called {@link #enter}); {@link #wakeup} and {@link #signal} may be called by any
 * thread, at any time, also before the first poll.
 *
 * <p>No lost wake-ups. A waker first publishes its change (appends a record, sets a flag) and then reads whether the
 * owner is parking; the owner first announces that it is parking and then re-reads its {@code ready} condition. Both
 * sides go through volatile fields, so at least one of them sees the other: either the owner sees the change and does
 * not park, or the waker sees the owner parking and unparks it; an unpark that comes before the park is kept by
 * {@link LockSupport} as a permit. So a {@code ready} condition must read only state that wakers publish before they
 * signal (volatile fields, atomics, or state behind a {@code java.util.concurrent} lock).
 *
 * <p>No monitor: parking is {@link LockSupport#parkNanos}, so a poll thread that is a virtual thread unmounts while
 * it waits, and nothing here can pin its carrier. {@link #signal} costs one volatile read while the owner is busy, so
 * a writer may call it per appended batch.
 */
public final class PollWaiter {
    private volatile Thread owner;
    /** True from just before the owner re-checks its condition until it returns from parking. */
    private volatile boolean parking;
    /** Set by {@link #wakeup}, kept until the owner consumes it, so a wakeup between polls ends the next one. */
    private volatile boolean wakeupRequested;

    /** The calling thread becomes the owner. Call at the start of every poll (the poll thread may change). */
    public void enter() {
        owner = Thread.currentThread();
    }

    /**
     * Makes the owner's current {@link #await} return, and {@link #consumeWakeup} report it, so a running or the next
     * poll returns promptly ({@code TransportConsumer.wakeup()}). Any thread.
     */
    public void wakeup() {
        wakeupRequested = true;
        LockSupport.unpark(owner);
    }

    /**
     * Tells a parked owner to re-check its condition; cheap (one volatile read) when the owner is not parking. Call it
     * after publishing the change the owner's {@code ready} condition reads. Any thread.
     */
    public void signal() {
        if (parking) {
            LockSupport.unpark(owner);
        }
    }

    /** Whether a {@link #wakeup} came since the last call, clearing it. Owner only. */
    public boolean consumeWakeup() {
        if (!wakeupRequested) {
            return false; // a volatile read only: no write while nobody asked for a wakeup
        }
        wakeupRequested = false;
        return true;
    }

    /**
     * Parks the owner until {@code deadlineNanos} ({@link System#nanoTime}), a {@link #wakeup}, or a {@link #signal},
     * unless {@code ready} already holds or a wakeup is pending. It may also return early for no reason (as
     * {@link LockSupport#parkNanos} may); callers loop and re-check. Owner only.
     *
     * @param ready the owner's condition for not parking, read after the owner announced it is parking
     * @return false if the deadline had passed already (nothing was waited for), true otherwise
     * @throws InterruptedException if the owner was interrupted (its interrupt status is cleared)
     */
    public boolean await(long deadlineNanos, BooleanSupplier ready) throws InterruptedException {
        long remaining = deadlineNanos - System.nanoTime();
        if (remaining <= 0) {
            return false;
        }
        parking = true;
        try {
            if (!wakeupRequested && !ready.getAsBoolean()) {
                LockSupport.parkNanos(this, remaining);
            }
        } finally {
            parking = false;
        }
        if (Thread.interrupted()) {
            throw new InterruptedException();
        }
        return true;
    }
}
