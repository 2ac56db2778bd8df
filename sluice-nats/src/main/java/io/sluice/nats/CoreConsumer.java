package io.sluice.nats;

import io.nats.client.Connection;
import io.nats.client.Dispatcher;
import io.sluice.Message;
import io.sluice.spi.ConsumerSpec;
import io.sluice.spi.PartitionListener;
import io.sluice.spi.RecordSink;
import io.sluice.spi.TransportConsumer;
import io.sluice.spi.support.PollWaiter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;

/**
 * A core-mode subscriber: the topic is a subject (wildcards {@code *} and {@code >} allowed) and the group a NATS
 * queue group, so the server hands each message to one member of the group. At most once: a message is gone once
 * the server sent it; nothing is acknowledged or redelivered. Messages arrive through a jnats dispatcher into a
 * buffer of at most {@code nats.core.maxBufferedMessages} messages and {@code nats.core.maxBufferedBytes} bytes (by
 * {@link Message#estimatedSize()}); beyond either they are dropped and counted, as NATS does for a slow consumer. Everything is partition 0 with offset -1, as in the publisher's receipts.
 *
 * <p>Not thread-safe: owned by the poll thread, except {@link #wakeup()} and the dispatcher callback.
 */
final class CoreConsumer implements TransportConsumer {
    private static final Logger log = LoggerFactory.getLogger(CoreConsumer.class);

    private final Connection nc;
    private final ConsumerSpec spec;
    private final PartitionListener listener;
    private final Dispatcher dispatcher;
    private final int maxBuffered;
    private final long maxBufferedBytes;
    private final ConcurrentLinkedQueue<Message> inbound = new ConcurrentLinkedQueue<>();
    private final AtomicInteger buffered = new AtomicInteger();
    private final AtomicLong bufferedBytes = new AtomicLong();
    private final AtomicLong dropped = new AtomicLong();
    private long reportedDropped;
    /** Core NATS assigns no offsets: receipts and deliveries both say -1. */
    private static final long NO_OFFSET = -1;
    private boolean assigned;
    /** Partition 0 paused by the engine; poll thread only. */
    private boolean paused;
    private boolean closed;
    /** Parks the poll thread; the dispatcher signals it after adding to {@link #inbound}. */
    private final PollWaiter waiter = new PollWaiter();
    /** Read by {@link #waiter} after it announced parking: whether a message waits (inbound is a concurrent queue). */
    private final BooleanSupplier deliverable = () -> !paused && !inbound.isEmpty();

    CoreConsumer(NatsTransport transport, ConsumerSpec spec, PartitionListener listener) {
        this.nc = transport.connection();
        this.spec = spec;
        this.listener = listener;
        this.maxBuffered = transport.settings().coreMaxBuffered;
        this.maxBufferedBytes = transport.settings().coreMaxBufferedBytes;
        Names.checkTopic(spec.topic(), true);
        this.dispatcher = nc.createDispatcher(this::onMessage);
        dispatcher.subscribe(spec.topic(), spec.group());
        try {
            // The subscription is registered on the server before subscribe() returns: later publishes reach it.
            nc.flush(Duration.ofSeconds(5));
        } catch (Exception e) {
            log.warn("Could not confirm the subscription to {} (queue group {}) with the server: {}", spec.topic(),
                    spec.group(), e.toString());
        }
    }

    private void onMessage(io.nats.client.Message msg) {
        Message m;
        try {
            m = NatsWire.decode(msg);
        } catch (RuntimeException e) {
            m = Message.builder().payload(msg.getData() == null ? new byte[0] : msg.getData()).build();
        }
        int size = m.estimatedSize();
        // Only this dispatcher thread adds, so checking then adding cannot overshoot the bounds; one message larger
        // than the byte bound is still taken into an empty buffer.
        int count = buffered.get();
        if (count >= maxBuffered || (count > 0 && bufferedBytes.get() + size > maxBufferedBytes)) {
            dropped.incrementAndGet();
            return;
        }
        buffered.incrementAndGet();
        bufferedBytes.addAndGet(size);
        inbound.add(m);
        waiter.signal();
    }

    @Override
    public void poll(int maxRecords, long maxBytes, boolean oversizedFirst, long timeoutNanos, RecordSink sink)
            throws InterruptedException {
        waiter.enter();
        if (!assigned) {
            assigned = true;
            listener.assigned(List.of(0));
        }
        reportDrops();
        if (maxRecords == 0) {
            return;
        }
        long deadline = System.nanoTime() + timeoutNanos;
        while (true) {
            int n = 0;
            long bytes = 0;
            Message m;
            while (!paused && n < maxRecords && (m = inbound.peek()) != null) {
                int size = m.estimatedSize();
                if (bytes + size > maxBytes && !(oversizedFirst && n == 0)) {
                    break;
                }
                inbound.poll();
                buffered.decrementAndGet();
                bufferedBytes.addAndGet(-size);
                sink.accept(m, 0, NO_OFFSET, size, 1, null);
                n++;
                bytes += size;
            }
            if (waiter.consumeWakeup() | n > 0) { // consume a wakeup either way
                return;
            }
            if (!waiter.await(deadline, deliverable)) {
                return;
            }
        }
    }

    private void reportDrops() {
        long d = dropped.get();
        if (d != reportedDropped) {
            log.warn("NATS core subscriber of {} (group {}) dropped {} messages: the buffer was full "
                            + "(nats.core.maxBufferedMessages={}, nats.core.maxBufferedBytes={})", spec.topic(),
                    spec.group(), d - reportedDropped, maxBuffered, maxBufferedBytes);
            reportedDropped = d;
        }
    }

    /** Messages dropped because the buffer was full, since the subscription started. */
    long dropped() {
        return dropped.get();
    }

    /**
     * Pausing partition 0 (the only one) stops handing messages to the engine. The server keeps sending to this
     * queue-group member meanwhile: they wait in the bounded buffer and, beyond it, are dropped and counted as for any
     * slow consumer (core mode is at most once; nothing is redelivered). Poll thread.
     */
    @Override
    public void pausePartitions(java.util.Collection<Integer> partitions) {
        if (partitions.contains(0)) {
            paused = true;
        }
    }

    /** Resumes handing buffered and new messages to the engine. Poll thread. */
    @Override
    public void resumePartitions(java.util.Collection<Integer> partitions) {
        if (partitions.contains(0)) {
            paused = false;
        }
    }

    @Override
    public void wakeup() {
        waiter.wakeup();
    }

    @Override
    public void commit(Map<Integer, Long> nextOffsets, boolean sync) {
        // at most once: nothing to commit
    }

    @Override
    public void ack(Object ackHandle) {
        // at most once: nothing to acknowledge
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            nc.closeDispatcher(dispatcher);
        } catch (RuntimeException e) {
            // connection already closed
        }
        int lost = buffered.get();
        if (lost > 0) {
            log.info("NATS core subscriber of {} (group {}) closed with {} messages not yet handled; core mode is at "
                    + "most once, so they are not redelivered", spec.topic(), spec.group(), lost);
        }
    }
}
