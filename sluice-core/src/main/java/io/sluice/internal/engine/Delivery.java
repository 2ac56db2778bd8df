package io.sluice.internal.engine;

import io.sluice.Message;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.TimeUnit;

/**
 * One fetched message on its way through the engine, and the task that runs one attempt of it on a virtual thread.
 * Pooled: the engine reuses a delivery once its outcome is final, so fetching allocates no envelope.
 *
 * <p>Ownership: every field is written by the engine's owner thread while no attempt runs, except {@link #token},
 * {@link #runner}, {@link #attemptStartNanos} and {@link #error}, which the attempt's virtual thread writes. The
 * token is the hand-off: an attempt starts with it odd ("running", stamped with a generation); whoever turns it
 * even first — the attempt finishing, the watchdog timing it out, or the owner cancelling it — owns the outcome.
 * The generation stamp stops a late, abandoned attempt from touching a later attempt of the same delivery.
 */
final class Delivery implements Runnable {
    static final int STAGE_HANDLE = 0;
    static final int STAGE_DEAD_LETTER = 1;
    /** Handed to the transport's native delayed redelivery; the outcome is the hand-off's confirmation. */
    static final int STAGE_HAND_OFF = 2;

    private static final VarHandle TOKEN;

    static {
        try {
            TOKEN = MethodHandles.lookup().findVarHandle(Delivery.class, "token", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final ConsumerEngine engine;

    // Owner-written, read by the attempt after it starts (Thread.start publishes them).
    Message message;
    String key;
    int partition;
    long offset;
    long seq;
    int size;
    Object ackHandle;
    long fetchedNanos;
    int stage;
    long delayNanos;
    int attempts;
    long firstFailureMillis;
    int deadLetterFailures;
    String deadLetterReason;
    Message deadLetter;
    boolean active;
    int poolIndex;
    /** The watchdog interrupted this attempt for running past the handler timeout. */
    boolean timedOut;
    long lastTimeoutWarningNanos;

    // Owner-only lane links: the next delivery of the same key, and (on a lane's head) the lane's tail.
    Delivery nextInLane;
    Delivery laneTail;

    // Completion hand-off.
    Delivery nextCompleted;
    Throwable error;
    volatile long token;
    volatile Thread runner;
    volatile long attemptStartNanos;

    Delivery(ConsumerEngine engine) {
        this.engine = engine;
    }

    /** Owner: marks a new attempt as running and returns its token. */
    long arm() {
        long next = ((token >>> 1) + 1) << 1 | 1L;
        attemptStartNanos = 0;
        timedOut = false;
        runner = null;
        error = null;
        token = next;
        return next;
    }

    boolean isRunning() {
        return (token & 1L) != 0;
    }

    /** Any thread: claims the outcome of the attempt stamped {@code expected}; true for the one winner. */
    boolean claim(long expected) {
        return TOKEN.compareAndSet(this, expected, expected & ~1L);
    }

    /** Owner: claims the current attempt's outcome (timeout or cancel) and interrupts it if it runs. */
    boolean claimAndInterrupt() {
        long t = token;
        if ((t & 1L) == 0 || !claim(t)) {
            return false;
        }
        Thread r = runner;
        if (r != null) {
            r.interrupt();
        }
        return true;
    }

    /**
     * Runs one attempt. Reads what it needs from the owner's fields first: the owner changes them only after this
     * attempt's outcome is claimed, and a delivery whose attempt was cancelled is discarded, never reused, so an
     * abandoned attempt cannot pick up another message.
     */
    @Override
    public void run() {
        final long t = token;
        final Message handled = message;
        final Message letter = deadLetter;
        final int attemptStage = stage;
        final long delay = delayNanos;
        if ((t & 1L) == 0) {
            return; // cancelled before it started
        }
        runner = Thread.currentThread();
        if (token != t) {
            return; // cancelled before the owner could see this thread to interrupt it
        }
        Throwable failure = null;
        try {
            if (delay > 0) {
                TimeUnit.NANOSECONDS.sleep(delay);
            }
            attemptStartNanos = System.nanoTime();
            if (attemptStage == STAGE_HANDLE) {
                engine.invokeHandler(handled);
            } else {
                engine.publishDeadLetter(letter);
            }
        } catch (Throwable e) {
            failure = e;
        }
        if (claim(t)) {
            error = failure;
            engine.completed(this);
        }
    }

    /** Owner: clears references so a pooled delivery keeps no message alive. */
    void clear() {
        message = null;
        key = null;
        ackHandle = null;
        deadLetter = null;
        deadLetterReason = null;
        nextInLane = null;
        laneTail = null;
        nextCompleted = null;
        error = null;
        runner = null;
        attempts = 0;
        firstFailureMillis = 0;
        deadLetterFailures = 0;
        delayNanos = 0;
        stage = STAGE_HANDLE;
        timedOut = false;
        active = false;
    }
}
