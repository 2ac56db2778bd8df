package io.sluice.nats;

import io.nats.client.JetStream;
import io.nats.client.JetStreamApiException;
import io.nats.client.JetStreamStatusException;
import io.nats.client.api.PublishAck;
import io.sluice.Message;
import io.sluice.PublishException;
import io.sluice.Receipt;
import io.sluice.spi.TransientTransportException;
import io.sluice.spi.TransportProducer;

import java.time.Duration;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Publishes to JetStream with jnats' asynchronous publish: the message goes to its topic's partition subject with
 * its id as {@code Nats-Msg-Id}, so a retried publish inside the stream's duplicate window is stored once (the
 * server answers the retry with the original sequence). At most {@code nats.publish.maxPendingAcks} publishes wait
 * for their acknowledgement; a caller finding none free waits up to {@code nats.publish.ackTimeout}.
 *
 * <p>A publish is confirmed only by the server's acknowledgement, after the stream stored the message. One made
 * while disconnected sits in jnats' reconnect buffer and is confirmed after the reconnect, or its future fails with
 * a transient error (timeout, no responders, buffer full) that the publisher retries under the same id.
 *
 * <p>Thread-safe. Futures complete on jnats' threads.
 */
final class JetStreamProducer implements TransportProducer {
    private final JetStream js;
    private final StreamRegistry streams;
    private final Semaphore permits;
    private final int maxPending;
    private final Duration ackTimeout;
    private final AtomicInteger roundRobin = new AtomicInteger();

    JetStreamProducer(JetStream js, StreamRegistry streams, NatsSettings settings) {
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
        CompletableFuture<PublishAck> acked;
        try {
            acked = js.publishAsync(ts.subjects()[partition], NatsWire.headers(message), message.payload());
        } catch (RuntimeException e) {
            permits.release();
            return CompletableFuture.failedFuture(classify(e, topic, message));
        }
        String id = message.id();
        return acked.handle((ack, error) -> {
            permits.release();
            if (error != null) {
                throw new CompletionException(classify(error, topic, message));
            }
            return new Receipt(topic, partition, ack.getSeqno(), id);
        });
    }

    /** Maps a jnats failure to a transient one (worth retrying under the same id) or a final one. */
    private static RuntimeException classify(Throwable error, String topic, Message m) {
        Throwable e = error;
        while (e instanceof CompletionException && e.getCause() != null) {
            e = e.getCause();
        }
        String where = "publish of message " + m.id() + " to topic " + topic;
        if (e instanceof TimeoutException || e instanceof CancellationException
                || e instanceof java.io.IOException) {
            return new TransientTransportException(where + " was not acknowledged in time (" + describe(e)
                    + "); the stream may or may not have stored it, a retry with the same id is deduplicated", e);
        }
        if (e instanceof JetStreamStatusException || e instanceof IllegalStateException) {
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
