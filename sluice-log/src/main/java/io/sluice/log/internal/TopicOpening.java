package io.sluice.log.internal;

import io.sluice.PublishException;
import io.sluice.config.Durations;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Function;

/**
 * A topic of the log, from the moment something first asked for it: while it is being created (directories and their
 * fsyncs, on the log's timer thread) the appends published to it wait here, in the order they arrived, so that no
 * publishing thread waits for the file system; once it is open they are queued to their partition writers in that
 * order, and only then do later appends go straight to the writers (so a publisher's later message can never pass an
 * earlier one). A waiting append whose publish timeout passes first fails and is never written.
 *
 * <p>Threads: publishing threads call {@link #ready()} and {@link #append}; the timer thread calls {@link #opened}
 * once; the JDK's delay-scheduler thread fails appends whose timeout passed. {@link #lock} orders {@link #append} and
 * {@link #opened}; it is a {@code ReentrantLock} (a publisher may be a virtual thread) and is held only for list and
 * queue operations: queueing to a writer is a lock-free push, never I/O.
 */
public final class TopicOpening {
    private final String name;
    private final CompletableFuture<TopicLog> future = new CompletableFuture<>();
    private final ReentrantLock lock = new ReentrantLock();
    /** Appends that arrived before the topic opened, oldest first. Guarded by {@link #lock}. */
    private List<Waiting> waiting = new ArrayList<>();
    /** Set, under the lock, once every append that waited has been queued: from then on appends go straight on. */
    private volatile TopicLog ready;
    /** Why the topic could not be opened; set under the lock. */
    private Throwable failure;

    private TopicOpening(String name) {
        this.name = name;
    }

    /** A topic that is being opened. */
    static TopicOpening pending(String name) {
        return new TopicOpening(name);
    }

    /** A topic that was open before anything was published to it (found when the log opened). */
    static TopicOpening open(TopicLog topic) {
        TopicOpening o = new TopicOpening(topic.name);
        o.future.complete(topic);
        o.ready = topic;
        o.waiting = List.of();
        return o;
    }

    /** Completes with the open topic, or fails with why it could not be opened. */
    public CompletableFuture<TopicLog> future() {
        return future;
    }

    /** The open topic if appends may go straight to its writers; null while the topic is being opened. */
    TopicLog ready() {
        return ready;
    }

    /**
     * Queues {@code append} once the topic is open, or fails it if the opening fails or {@code timeout} passes first.
     *
     * @param failure turns the opening's failure into the exception the append fails with
     */
    void append(PendingAppend append, Duration timeout, Function<Throwable, PublishException> failure) {
        Waiting w = new Waiting(append);
        lock.lock();
        try {
            if (ready != null) {
                LogStore.submit(ready, append);
                return;
            }
            if (this.failure != null) {
                append.completeExceptionally(failure.apply(this.failure));
                return;
            }
            waiting.add(w);
        } finally {
            lock.unlock();
        }
        // Runs on the JDK's delay-scheduler thread, not on the timer, which may be the one busy creating the topic.
        // The task holds only the Waiting, which lets go of the append once the opening took it.
        CompletableFuture.delayedExecutor(timeout.toNanos(), TimeUnit.NANOSECONDS, Runnable::run)
                .execute(() -> timedOut(w, timeout));
    }

    private void timedOut(Waiting w, Duration timeout) {
        PendingAppend append = w.take();
        if (append != null) {
            append.completeExceptionally(new PublishException("topic '" + name + "' was not created within the "
                    + "publish timeout (" + Durations.format(timeout) + ", publisher.publishTimeout): creating its "
                    + "directories is still going on; message " + append.message.id() + " not written"));
        }
    }

    /**
     * The opening finished (on the timer thread): queues every waiting append that did not time out, oldest first,
     * or fails them all with {@code error}; then lets later appends go straight to the writers.
     */
    void opened(TopicLog topic, Throwable error, Function<Throwable, PublishException> failure) {
        lock.lock();
        try {
            for (Waiting w : waiting) {
                PendingAppend append = w.take();
                if (append == null) {
                    continue; // its timeout passed first: it failed and must not be written
                }
                if (error == null) {
                    LogStore.submit(topic, append);
                } else {
                    append.completeExceptionally(failure.apply(error));
                }
            }
            waiting = List.of();
            if (error == null) {
                ready = topic;
            } else {
                this.failure = error;
            }
        } finally {
            lock.unlock();
        }
        if (error == null) {
            future.complete(topic);
        } else {
            future.completeExceptionally(error);
        }
    }

    /** An append waiting for the topic; exactly one of the opening and its timeout takes it. */
    private static final class Waiting extends AtomicReference<PendingAppend> {
        Waiting(PendingAppend append) {
            super(append);
        }

        /** The append, to the first caller only; null to the other. */
        PendingAppend take() {
            return getAndSet(null);
        }
    }
}
