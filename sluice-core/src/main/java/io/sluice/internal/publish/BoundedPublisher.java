package io.sluice.internal.publish;

import io.sluice.Message;
import io.sluice.PublishException;
import io.sluice.Publisher;
import io.sluice.Receipt;
import io.sluice.config.Durations;
import io.sluice.config.PublisherOptions;
import io.sluice.spi.TransportProducer;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The {@link Publisher} over a transport producer: assigns ids, bounds unacknowledged publishes with a semaphore,
 * and retries transient failures with exponential backoff and full jitter on a timer thread.
 *
 * <p>Thread-safe. Threads: the caller's (waits for room), the transport's completion threads (complete the
 * returned futures: callbacks attached to them run there and must not block), and one daemon platform thread that
 * schedules retries.
 *
 * <p>Close and publish. Every returned future settles, whatever runs concurrently with {@link #close()}. A publish
 * holds a permit from before its last closed check until it settles, so close sweeps the unsettled publishes until
 * every permit is back: a publish that got past the check just before close raised {@code closed} is caught by a
 * later sweep once it has registered, without costing each publish more than the permit it takes anyway. A retry the
 * stopped timer refuses fails its publish at once instead of being lost with its permit.
 */
public final class BoundedPublisher implements Publisher {
    private final TransportProducer producer;
    private final PublisherOptions options;
    private final Semaphore room;
    /** Publishes not known to be settled, for flush and close. */
    private final PendingRegistry pending;
    private final ScheduledExecutorService retryTimer;
    private volatile boolean closed;

    public BoundedPublisher(TransportProducer producer, PublisherOptions options) {
        this.producer = producer;
        this.options = options;
        this.room = new Semaphore(options.maxPendingPublishes());
        this.pending = new PendingRegistry(options.maxPendingPublishes());
        ScheduledThreadPoolExecutor timer = new ScheduledThreadPoolExecutor(1,
                Thread.ofPlatform().daemon(true).name("sluice-publish-retry").factory());
        timer.setRemoveOnCancelPolicy(true);
        this.retryTimer = timer;
    }

    @Override
    public CompletableFuture<Receipt> publish(String topic, Message message) {
        if (topic == null || topic.isBlank()) {
            return CompletableFuture.failedFuture(new PublishException("publish needs a topic, got '" + topic + "'"));
        }
        if (message == null) {
            return CompletableFuture.failedFuture(new PublishException("publish to " + topic + " needs a message, got null"));
        }
        if (closed) {
            return CompletableFuture.failedFuture(new PublishException("publisher is closed; message not published to " + topic));
        }
        Message m = message.withDefaults(System.currentTimeMillis());
        try {
            if (!room.tryAcquire() && !room.tryAcquire(options.publishTimeout().toNanos(), TimeUnit.NANOSECONDS)) {
                return CompletableFuture.failedFuture(new PublishException("publish of message " + m.id()
                        + " to topic " + topic + " gave up after waiting " + Durations.format(options.publishTimeout())
                        + " for room: " + options.maxPendingPublishes() + " publishes are unacknowledged"
                        + " (publisher.maxPendingPublishes=" + options.maxPendingPublishes()
                        + ", publisher.publishTimeout=" + Durations.format(options.publishTimeout()) + ")"));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return CompletableFuture.failedFuture(new PublishException("interrupted while waiting for room to publish to " + topic, e));
        }
        // The permit is taken before closed is read: close either finds it taken and sweeps until this publish has
        // registered, or this publish sees closed.
        if (closed) {
            room.release();
            return CompletableFuture.failedFuture(new PublishException("publisher closed while waiting for room; message "
                    + m.id() + " not published to " + topic));
        }
        PendingPublish result = new PendingPublish();
        pending.register(result);
        attempt(topic, m, result, 0);
        return result;
    }

    private void attempt(String topic, Message m, PendingPublish result, int retries) {
        CompletableFuture<Receipt> sent;
        try {
            sent = producer.send(topic, m, options.publishTimeout());
            if (sent == null) {
                sent = CompletableFuture.failedFuture(new IllegalStateException("transport returned no future"));
            }
        } catch (Throwable e) {
            sent = CompletableFuture.failedFuture(e);
        }
        sent.whenComplete((receipt, error) -> {
            if (error == null) {
                settle(result, receipt, null);
                return;
            }
            Throwable cause = unwrap(error);
            if (!closed && retries < options.maxRetries() && producer.isTransient(cause)) {
                long delay = backoffNanos(retries + 1);
                try {
                    retryTimer.schedule(() -> attempt(topic, m, result, retries + 1), delay, TimeUnit.NANOSECONDS);
                } catch (RejectedExecutionException stopped) { // close stopped the timer after closed was read
                    settle(result, null, new PublishException("publish of message " + m.id() + " to topic " + topic
                            + " failed and the publisher closed before it could be retried: " + cause.getMessage(),
                            cause));
                }
            } else {
                settle(result, null, cause instanceof PublishException pe ? pe
                        : new PublishException("publish of message " + m.id() + " to topic " + topic + " failed"
                        + (retries > 0 ? " after " + retries + " retries" : "") + ": " + cause.getMessage(), cause));
            }
        });
    }

    private void settle(PendingPublish result, Receipt receipt, Throwable error) {
        if (!result.claimSettlement()) {
            return;
        }
        room.release();
        if (error == null) {
            result.complete(receipt);
        } else {
            result.completeExceptionally(error);
        }
    }

    private long backoffNanos(int retry) {
        long base = options.retryBackoff().toNanos();
        long ceiling = (long) Math.min((double) options.retryMaxBackoff().toNanos(), base * Math.pow(2, retry - 1));
        return ceiling <= 0 ? 0 : ThreadLocalRandom.current().nextLong(ceiling + 1);
    }

    private static Throwable unwrap(Throwable e) {
        Throwable t = e;
        while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
            t = t.getCause();
        }
        return t;
    }

    /** Publishes not yet confirmed or failed. */
    public int pendingCount() {
        return options.maxPendingPublishes() - room.availablePermits();
    }

    @Override
    public boolean flush(Duration timeout) throws InterruptedException {
        producer.flush();
        CompletableFuture<?>[] snapshot = pending.unsettled().toArray(new CompletableFuture<?>[0]);
        try {
            CompletableFuture.allOf(snapshot).get(timeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (ExecutionException e) {
            // a failed publish is completed; its caller sees the failure
        } catch (TimeoutException e) {
            return false;
        }
        return true;
    }

    /**
     * Stops accepting publishes, waits up to the publish timeout for pending ones, then fails any still pending:
     * the broker may or may not have stored them, and the error says so.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            flush(options.publishTimeout());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            // a transport that cannot flush must not keep the sweep below from settling what is pending
        } finally {
            retryTimer.shutdownNow();
            sweepUntilEveryPermitIsBack();
        }
    }

    /**
     * Fails every unsettled publish, again until every permit has come back. A permit still out after a sweep belongs
     * to a publish between its closed check and its registration (a few instructions: it registers, or it saw closed
     * and gives the permit back), or to one registered where the sweep had already looked.
     */
    private void sweepUntilEveryPermitIsBack() {
        while (true) {
            for (PendingPublish f : pending.unsettled()) {
                settle(f, null, new PublishException("publisher closed before the broker confirmed this message; "
                        + "it may or may not have been stored"));
            }
            if (room.availablePermits() == options.maxPendingPublishes()) {
                return;
            }
            Thread.yield();
        }
    }
}
