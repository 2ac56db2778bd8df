package io.sluice.nats;

import io.nats.client.Connection;
import io.nats.client.JetStream;
import io.nats.client.JetStreamApiException;
import io.nats.client.JetStreamStatusException;
import io.nats.client.api.PublishAck;
import io.nats.client.impl.Headers;
import io.sluice.Message;
import io.sluice.PublishException;
import io.sluice.Receipt;
import io.sluice.spi.TransientTransportException;
import io.sluice.spi.TransportProducer;

import java.time.Duration;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

/**
 * Publishes to JetStream with jnats' asynchronous publish: the message goes to its topic's partition subject with
 * its id as {@code Nats-Msg-Id}, so a retried publish inside the stream's duplicate window is stored once (the
 * server answers the retry with the original sequence). At most {@code nats.publish.maxPendingAcks} publishes wait
 * for their acknowledgement; a caller finding none free waits up to {@code nats.publish.ackTimeout}.
 *
 * <p>A publish is confirmed only by the server's acknowledgement, after the stream stored the message. One made
 * while disconnected sits in jnats' reconnect buffer and is confirmed after the reconnect, or its future fails with
 * a transient error (timeout, no responders, buffer full) that the publisher retries under the same id. While the
 * server restarts, JetStream answers "no responders" (503) for a while after the connection is back: such a publish
 * is sent again here, with backoff, for up to {@code nats.publish.ackTimeout} from its first attempt, under the same
 * id (the stream deduplicates), before the failure is reported as transient.
 *
 * <p>Thread-safe. Futures complete on jnats' threads, or on the JDK's delayed executor for a resend.
 */
final class JetStreamProducer implements TransportProducer {
    private final JetStream js;
    private final StreamRegistry streams;
    private final Semaphore permits;
    private final int maxPending;
    private final Duration ackTimeout;
    private final AtomicInteger roundRobin = new AtomicInteger();
    /** Attempts sent again because JetStream could not take them: what a test waits for to know a 503 was met. */
    private final LongAdder resends = new LongAdder();
    private final Connection nc;
    /** First pause before sending again a publish JetStream could not take (no responders); doubled up to the max. */
    private static final long FIRST_RESEND_NANOS = TimeUnit.MILLISECONDS.toNanos(20);
    private static final long MAX_RESEND_NANOS = TimeUnit.MILLISECONDS.toNanos(500);

    JetStreamProducer(Connection nc, JetStream js, StreamRegistry streams, NatsSettings settings) {
        this.nc = nc;
        this.js = js;
        this.streams = streams;
        this.maxPending = settings.maxPendingAcks;
        this.permits = new Semaphore(maxPending);
        this.ackTimeout = settings.publishAckTimeout;
    }

    @Override
    public CompletableFuture<Receipt> send(String topic, Message message) {
        StreamRegistry.TopicStream ts;
        try {
            ts = streams.stream(topic);
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
        int partition = message.key() == null
                ? Math.floorMod(roundRobin.getAndIncrement(), ts.partitions())
                : Names.partitionFor(message.key(), ts.partitions());
        try {
            if (!permits.tryAcquire() && !permits.tryAcquire(ackTimeout.toNanos(), TimeUnit.NANOSECONDS)) {
                return CompletableFuture.failedFuture(new TransientTransportException("no NATS publish slot within "
                        + ackTimeout.toMillis() + " ms: " + maxPending + " publishes await acknowledgement "
                        + "(nats.publish.maxPendingAcks)"));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return CompletableFuture.failedFuture(new PublishException("interrupted while waiting to publish to "
                    + topic, e));
        }
        CompletableFuture<Receipt> result = new CompletableFuture<>();
        String subject = ts.subjects()[partition];
        Headers headers = NatsWire.headers(message);
        attempt(subject, headers, topic, partition, message, System.nanoTime() + ackTimeout.toNanos(), 0, result);
        return result;
    }

    /**
     * One attempt; a failure because JetStream is not there yet (server restarting) is tried again with backoff
     * until {@code deadline}, under the same message id. The permit is held until the result settles.
     */
    private void attempt(String subject, Headers headers, String topic, int partition, Message message, long deadline,
                         int retries, CompletableFuture<Receipt> result) {
        CompletableFuture<PublishAck> acked;
        try {
            acked = js.publishAsync(subject, headers, message.payload());
        } catch (RuntimeException e) {
            acked = CompletableFuture.failedFuture(e);
        }
        acked.whenComplete((ack, error) -> {
            if (error == null) {
                permits.release();
                result.complete(new Receipt(topic, partition, ack.getSeqno(), message.id()));
                return;
            }
            Throwable cause = unwrap(error);
            long delay = Math.min(MAX_RESEND_NANOS, FIRST_RESEND_NANOS << Math.min(retries, 10));
            if (notThereYet(cause) && nc.getStatus() != Connection.Status.CLOSED
                    && System.nanoTime() + delay - deadline < 0) {
                resends.increment();
                CompletableFuture.delayedExecutor(delay, TimeUnit.NANOSECONDS).execute(() ->
                        attempt(subject, headers, topic, partition, message, deadline, retries + 1, result));
                return;
            }
            permits.release();
            result.completeExceptionally(classify(cause, topic, message));
        });
    }

    /** How many attempts were scheduled to be sent again (JetStream could not take them) since this was created. */
    long resends() {
        return resends.sum();
    }

    /**
     * The connection is up but JetStream did not take the publish: jnats reports a status reply such as "503 No
     * Responders" (the stream is not back yet after a server restart) as an {@link java.io.IOException} ("Error
     * Publishing: ..."). Worth sending again shortly; a timeout is not (it already waited the ack timeout).
     */
    private static boolean notThereYet(Throwable e) {
        return e instanceof JetStreamStatusException
                || (e instanceof java.io.IOException && !(e instanceof java.io.InterruptedIOException));
    }

    /** NATS is not available: {@link #notThereYet}, or jnats refused at once (reconnect buffer full, closed). */
    private static boolean unavailable(Throwable e) {
        return notThereYet(e) || e instanceof IllegalStateException;
    }

    /**
     * Strips the wrappers jnats and the JDK put around the real failure: {@link CompletionException},
     * {@link ExecutionException}, and the plain {@link RuntimeException} jnats wraps an {@link java.io.IOException}
     * or {@link JetStreamApiException} in when an asynchronous publish gets a status reply (503 no responders).
     */
    static Throwable unwrap(Throwable error) {
        Throwable e = error;
        while (e.getCause() != null && e.getCause() != e && (e instanceof CompletionException
                || e instanceof ExecutionException || e.getClass() == RuntimeException.class)) {
            e = e.getCause();
        }
        return e;
    }

    /** Maps a jnats failure to a transient one (worth retrying under the same id) or a final one. */
    static RuntimeException classify(Throwable error, String topic, Message m) {
        Throwable e = unwrap(error);
        String where = "publish of message " + m.id() + " to topic " + topic;
        if (e instanceof TimeoutException || e instanceof CancellationException
                || e instanceof java.io.InterruptedIOException) {
            return new TransientTransportException(where + " was not acknowledged in time (" + describe(e)
                    + "); the stream may or may not have stored it, a retry with the same id is deduplicated", e);
        }
        if (unavailable(e)) {
            // 503 no responders (stream leader or server down), reconnect buffer full, connection reconnecting
            return new TransientTransportException(where + " failed while NATS was unavailable (" + describe(e)
                    + ")", e);
        }
        if (e instanceof JetStreamApiException api) {
            return new PublishException(where + " was refused by JetStream: " + api.getMessage(), e);
        }
        if (e instanceof IllegalArgumentException) {
            return new PublishException(where + " was refused: " + e.getMessage(), e);
        }
        if (e instanceof io.sluice.SluiceException se) {
            return se;
        }
        return new PublishException(where + " failed: " + describe(e), e);
    }

    private static String describe(Throwable e) {
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getClass().getSimpleName() + ": "
                + e.getMessage();
    }

    /** Waits up to {@code timeout} for outstanding acknowledgements, so closing does not cut them off. */
    void awaitPending(Duration timeout) {
        try {
            if (permits.tryAcquire(maxPending, timeout.toNanos(), TimeUnit.NANOSECONDS)) {
                permits.release(maxPending);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
