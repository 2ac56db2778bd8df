package io.sluice.spi.support;

import java.util.Arrays;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The consumers of one topic to {@link GroupConsumer#signal signal} when records are appended to it.
 *
 * <p>Thread-safe. Copy-on-write, so that {@link #signalAll} (on every append, by writer threads) reads one volatile
 * array without a lock or an iterator; adding and removing consumers is rare and takes a short lock (not a monitor,
 * so a virtual thread subscribing never pins its carrier).
 */
public final class PollSignals {
    private static final GroupConsumer[] NONE = new GroupConsumer[0];

    private final ReentrantLock lock = new ReentrantLock();
    private volatile GroupConsumer[] consumers = NONE;

    /** Signals {@code consumer} on every later append, until {@link #remove}. */
    public void add(GroupConsumer consumer) {
        lock.lock();
        try {
            GroupConsumer[] c = Arrays.copyOf(consumers, consumers.length + 1);
            c[c.length - 1] = consumer;
            consumers = c;
        } finally {
            lock.unlock();
        }
    }

    /** Stops signalling {@code consumer}. */
    public void remove(GroupConsumer consumer) {
        lock.lock();
        try {
            consumers = Arrays.stream(consumers).filter(c -> c != consumer).toArray(GroupConsumer[]::new);
        } finally {
            lock.unlock();
        }
    }

    /** Records were appended: every consumer whose poll thread is parked re-checks. Call after publishing them. */
    public void signalAll() {
        for (GroupConsumer c : consumers) {
            c.signal();
        }
    }
}
