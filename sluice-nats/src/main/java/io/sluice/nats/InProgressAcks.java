package io.sluice.nats;

import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BiConsumer;
import java.util.function.LongPredicate;

/**
 * In-progress acknowledgements ({@code +WPI}) for the messages a JetStream member fetched and has not finished: those
 * the engine holds (a linked list through the {@link JetStreamConsumer.Fetched} handles, one object per message, no
 * allocation) and those still in the member's buffer. Each gets one every third of the ack wait, so the server does
 * not redeliver it behind the member's back; none once the lease time ran out, so that the server redelivers them to
 * the next owner.
 *
 * <p>Threads. Owned by the subscription's poll thread. While the poll thread is inside a listener callback
 * ({@link #runCallback}, which can block for the engine's shutdown timeout), the keep-alive thread may send the due
 * acks instead ({@link #sweepFromKeepAlive}); the poll thread then changes neither the list nor the buffer (finished
 * messages are only marked {@code done}, and unlinked later). The hand-over between the two is one atomic state:
 * LIVE (poll thread), FROZEN (in a callback), SWEEPING (keep-alive thread sending); no lock.
 */
final class InProgressAcks {
    private static final byte[] IN_PROGRESS = "+WPI".getBytes(StandardCharsets.US_ASCII);
    private static final int LIVE = 0;
    private static final int FROZEN = 1;
    private static final int SWEEPING = 2;
    /** Shortest time between two rounds on the poll thread. */
    private static final long MIN_ROUND_NANOS = 100_000_000L;

    private final JetStreamConsumer.Fetched held = new JetStreamConsumer.Fetched(); // sentinel of the held list
    private final ArrayDeque<JetStreamConsumer.Fetched> buffered;
    private final BiConsumer<String, byte[]> publish;
    private final LongPredicate leaseValid;
    private final long progressNanos;
    private final AtomicInteger state = new AtomicInteger(LIVE);
    private int callbackDepth;
    private long nextRound;

    /**
     * @param buffered      the member's buffer of fetched messages not yet handed to the engine
     * @param publish       sends a body to a subject, ignoring a closed connection
     * @param leaseValid    whether the member's lease time still lasts at a {@link System#nanoTime} instant
     * @param ackWaitNanos  the durable consumers' ack wait
     */
    InProgressAcks(ArrayDeque<JetStreamConsumer.Fetched> buffered, BiConsumer<String, byte[]> publish,
                   LongPredicate leaseValid, long ackWaitNanos) {
        this.buffered = buffered;
        this.publish = publish;
        this.leaseValid = leaseValid;
        this.progressNanos = ackWaitNanos / 3;
        held.prev = held;
        held.next = held;
        this.nextRound = System.nanoTime() + progressNanos / 2;
    }

    /** The engine took {@code h}: it is held until {@link #finished}. Poll thread. */
    void hold(JetStreamConsumer.Fetched h) {
        JetStreamConsumer.Fetched tail = held.prev;
        h.prev = tail;
        h.next = held;
        tail.next = h;
        held.prev = h;
    }

    /** The engine is done with {@code h}. Poll thread; inside a callback it is only marked, and unlinked later. */
    void finished(JetStreamConsumer.Fetched h) {
        if (callbackDepth > 0) {
            h.done = true;
        } else {
            unlink(h);
        }
    }

    /** Adds to {@code out} every held message neither finished nor handed off (to release them on close). */
    void collectUnfinished(java.util.List<JetStreamConsumer.Fetched> out) {
        for (JetStreamConsumer.Fetched h = held.next; h != held; h = h.next) {
            if (!h.handedOff && !h.done) {
                out.add(h);
            }
        }
    }

    /**
     * Poll thread, on every maintenance pass: when a round is due, unlinks what was finished or handed off meanwhile
     * and sends the acks that are due (none if the lease time ran out).
     */
    void maybeSend(long now) {
        if (now - nextRound < 0) {
            return;
        }
        boolean valid = leaseValid.test(now);
        for (JetStreamConsumer.Fetched h = held.next; h != held; ) {
            JetStreamConsumer.Fetched next = h.next;
            if (h.done || h.handedOff) {
                unlink(h);
            } else if (valid && now - h.heldSince >= progressNanos) {
                publish.accept(h.replyTo, IN_PROGRESS);
                h.heldSince = now;
            }
            h = next;
        }
        if (valid) {
            sendBuffered(now);
        }
        nextRound = now + Math.max(MIN_ROUND_NANOS, progressNanos / 2);
    }

    /**
     * Runs a listener callback on the poll thread; meanwhile the keep-alive thread may send the due acks. Nested
     * callbacks are fine.
     */
    void runCallback(Runnable r) {
        if (callbackDepth++ == 0) {
            state.set(FROZEN);
        }
        try {
            r.run();
        } finally {
            if (--callbackDepth == 0) {
                while (!state.compareAndSet(FROZEN, LIVE)) {
                    Thread.onSpinWait(); // a sweep is running; it takes microseconds
                }
            }
        }
    }

    /** Keep-alive thread: sends due in-progress acks, only while the poll thread is inside a callback. */
    void sweepFromKeepAlive() {
        if (!state.compareAndSet(FROZEN, SWEEPING)) {
            return;
        }
        try {
            long now = System.nanoTime();
            if (!leaseValid.test(now)) {
                return;
            }
            for (JetStreamConsumer.Fetched h = held.next; h != held; h = h.next) {
                if (!h.done && !h.handedOff && now - h.heldSince >= progressNanos) {
                    publish.accept(h.replyTo, IN_PROGRESS);
                    h.heldSince = now;
                }
            }
            sendBuffered(now);
        } finally {
            state.set(FROZEN);
        }
    }

    private void sendBuffered(long now) {
        for (JetStreamConsumer.Fetched f : buffered) {
            if (now - f.heldSince >= progressNanos) {
                publish.accept(f.replyTo, IN_PROGRESS);
                f.heldSince = now;
            }
        }
    }

    private static void unlink(JetStreamConsumer.Fetched h) {
        if (h.next != null) {
            h.prev.next = h.next;
            h.next.prev = h.prev;
            h.next = null;
            h.prev = null;
        }
    }
}
