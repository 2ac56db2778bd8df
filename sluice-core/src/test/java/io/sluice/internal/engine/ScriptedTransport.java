package io.sluice.internal.engine;

import io.sluice.Message;
import io.sluice.Receipt;
import io.sluice.spi.Acknowledgement;
import io.sluice.spi.ConsumerSpec;
import io.sluice.spi.PartitionListener;
import io.sluice.spi.RecordSink;
import io.sluice.spi.Redelivery;
import io.sluice.spi.Transport;
import io.sluice.spi.TransportCapabilities;
import io.sluice.spi.TransportConsumer;
import io.sluice.spi.TransportProducer;

import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A per-message-ack transport driven by the test: records are offered to a queue, and every call the engine makes on
 * the consumer is recorded. Sluice's own SPI as a test seam, not a stand-in for any broker client.
 */
final class ScriptedTransport implements Transport {
    record Inbound(Message message, long offset, int deliveryAttempt) {
    }

    final LinkedBlockingQueue<Inbound> inbound = new LinkedBlockingQueue<>();
    final List<Long> acked = new CopyOnWriteArrayList<>();
    final List<Long> deadLettered = new CopyOnWriteArrayList<>();
    final List<Long> released = new CopyOnWriteArrayList<>();
    final List<Redelivery> handedOff = new CopyOnWriteArrayList<>();
    final List<Message> published = new CopyOnWriteArrayList<>();
    volatile boolean failHandOff;
    /** Set to have the next poll revoke partition 0; the time the revocation took is then in revokeNanos. */
    volatile boolean revokeNext;
    volatile long revokeNanos = -1;
    volatile java.time.Duration maxRevokeTime;
    /** Publishes to fail (not transiently) before they start to succeed. */
    final java.util.concurrent.atomic.AtomicInteger publishFailures = new java.util.concurrent.atomic.AtomicInteger();
    private final boolean nativeDelay;
    private final AtomicLong nextOffset = new AtomicLong();

    ScriptedTransport(boolean nativeDelay) {
        this.nativeDelay = nativeDelay;
    }

    long offer(Message m) {
        long offset = nextOffset.getAndIncrement();
        inbound.add(new Inbound(m, offset, 1));
        return offset;
    }

    @Override
    public String name() {
        return "scripted";
    }

    @Override
    public TransportCapabilities capabilities() {
        return new TransportCapabilities(true, true, true, Acknowledgement.PER_MESSAGE, nativeDelay, false, false, -1);
    }

    @Override
    public TransportProducer producer() {
        return (topic, m) -> {
            if (publishFailures.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
                return CompletableFuture.failedFuture(new IllegalStateException("dead-letter topic unavailable"));
            }
            published.add(m);
            return CompletableFuture.completedFuture(new Receipt(topic, 0, published.size() - 1, m.id()));
        };
    }

    @Override
    public TransportConsumer consumer(ConsumerSpec spec, PartitionListener listener) {
        return new TransportConsumer() {
            private boolean assigned;

            @Override
            public void poll(int maxRecords, long maxBytes, boolean oversizedFirst, long timeoutNanos, RecordSink sink)
                    throws InterruptedException {
                if (!assigned) {
                    assigned = true;
                    listener.assigned(List.of(0));
                }
                if (revokeNext) {
                    revokeNext = false;
                    long t0 = System.nanoTime();
                    listener.revoked(List.of(0));
                    revokeNanos = System.nanoTime() - t0;
                }
                if (maxRecords == 0) {
                    return;
                }
                Inbound first = inbound.poll(timeoutNanos, TimeUnit.NANOSECONDS);
                int delivered = 0;
                for (Inbound r = first; r != null && r.message != null; r = delivered < maxRecords ? inbound.poll() : null) {
                    sink.accept(r.message, 0, r.offset, r.message.estimatedSize(), r.deliveryAttempt, r.offset);
                    delivered++;
                }
            }

            @Override
            public java.time.Duration maxRevokeTime() {
                return maxRevokeTime;
            }

            @Override
            public void wakeup() {
                inbound.add(new Inbound(null, -1, 0));
            }

            @Override
            public void commit(Map<Integer, Long> nextOffsets, boolean sync) {
                throw new AssertionError("a per-message transport is never asked to commit offsets");
            }

            @Override
            public void ack(Object ackHandle) {
                acked.add((Long) ackHandle);
            }

            @Override
            public void deadLettered(Object ackHandle) {
                deadLettered.add((Long) ackHandle);
            }

            @Override
            public void release(Object ackHandle) {
                released.add((Long) ackHandle);
            }

            @Override
            public CompletableFuture<Void> redeliverLater(Redelivery r) {
                handedOff.add(r);
                if (failHandOff) {
                    return CompletableFuture.failedFuture(new IllegalStateException("delay queue unavailable"));
                }
                inbound.add(new Inbound(r.message(), r.offset(), r.attemptsMade() + 1));
                return CompletableFuture.completedFuture(null);
            }

            @Override
            public void close() {
            }
        };
    }

    @Override
    public void close() {
    }
}
