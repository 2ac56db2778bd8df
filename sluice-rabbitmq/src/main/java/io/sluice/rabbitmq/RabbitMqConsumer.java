package io.sluice.rabbitmq;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.DefaultConsumer;
import com.rabbitmq.client.Envelope;
import io.sluice.Message;
import io.sluice.config.StartPosition;
import io.sluice.spi.ConsumerSpec;
import io.sluice.spi.PartitionListener;
import io.sluice.spi.RecordSink;
import io.sluice.spi.TransientTransportException;
import io.sluice.spi.TransportConsumer;
import io.sluice.spi.support.GroupMember;
import io.sluice.spi.support.MembershipStore;
import io.sluice.spi.support.PollWaiter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.Collection;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Function;

/**
 * One member of a consumer group on a RabbitMQ topic. The group's partition queues are split among its members by
 * {@link GroupMember} over a {@link RabbitMembership}; each partition this member owns is read through a channel of
 * its own: {@code basic.qos} (the prefetch: the engine's in-flight bound, or {@code rabbitmq.prefetch}) and one
 * {@code basic.consume} with manual acks. The broker pushes deliveries into a per-partition buffer; {@link #poll}
 * hands them to the engine within its record and byte room; each message is acked on that channel when its outcome
 * is final. The broker holds the backlog: at most the prefetch per partition is buffered here.
 *
 * <p>Per-key order through a hand-over: every partition queue is a single-active-consumer queue, so the broker
 * delivers a queue to one member at a time. A member giving a partition up first lets the engine drain and ack it,
 * then closes its channel, which returns the messages it still held to the queue in order; only then does the
 * broker activate the next member's consumer, which receives them first.
 *
 * <p>Messages published before the group existed wait in the topic's unclaimed queues (see {@link Topology}); a
 * member starting from {@code earliest} reads a partition's unclaimed queue until it is empty (and no other member
 * is reading it), then switches to the group's queue, so older messages come first.
 *
 * <p>Thread ownership: owned by the subscription's poll thread, which makes every call except {@link #wakeup};
 * deliveries run on the client's connection threads and only append to the buffers (concurrent queues) and signal
 * the {@link PollWaiter}.
 */
final class RabbitMqConsumer implements TransportConsumer {
    private static final Logger log = LoggerFactory.getLogger(RabbitMqConsumer.class);
    private static final long DRAIN_CHECK_NANOS = TimeUnit.MILLISECONDS.toNanos(50);

    private final Connection connection;
    private final Topology topology;
    private final RabbitMqProducer producer;
    private final ConsumerSpec spec;
    private final PollWaiter waiter = new PollWaiter();
    private final Part[] parts;
    private final GroupMember member;
    private final BooleanSupplier ready = this::readyToPoll;
    private final int configuredPrefetch;
    // Poll-thread state.
    private int maxRoom;
    private int nextPartition;
    private boolean closed;

    /** A fetched message and its ack handle. */
    static final class Delivery {
        final Message message;
        final long offset;
        final int size;
        final long tag;
        final Part part;
        final Channel channel;
        final boolean unclaimed;
        final int incarnation;
        final int attempt;

        Delivery(Message message, long offset, long tag, Part part, Channel channel, boolean unclaimed,
                 int incarnation, int attempt) {
            this.attempt = attempt;
            this.message = message;
            this.offset = offset;
            this.size = message.estimatedSize();
            this.tag = tag;
            this.part = part;
            this.channel = channel;
            this.unclaimed = unclaimed;
            this.incarnation = incarnation;
        }
    }

    /** A partition's channel and buffer. Fields other than the buffer belong to the poll thread. */
    final class Part {
        final int partition;
        final ConcurrentLinkedQueue<Delivery> buffer = new ConcurrentLinkedQueue<>();
        Channel channel;
        PartConsumer consumer;
        boolean draining;
        int unackedUnclaimed;
        long nextDrainCheck;
        int incarnation;
        /** Released by the engine, not yet handed back; see {@link #release}. */
        final java.util.ArrayList<Delivery> released = new java.util.ArrayList<>();
        /** Offsets for messages from plain AMQP publishers; connection thread of the partition's channel. */
        long localOffset;

        Part(int partition) {
            this.partition = partition;
        }
    }

    /** Receives one partition queue's deliveries on the client's connection thread. */
    private final class PartConsumer extends DefaultConsumer {
        private final Part part;
        private final boolean unclaimed;
        private final int incarnation;
        volatile boolean stopped;

        PartConsumer(Channel ch, Part part, boolean unclaimed) {
            super(ch);
            this.part = part;
            this.unclaimed = unclaimed;
            this.incarnation = part.incarnation;
        }

        @Override
        public void handleDelivery(String tag, Envelope envelope, AMQP.BasicProperties props, byte[] body) {
            if (stopped) {
                return; // the channel is closing: the broker takes the message back
            }
            long offset = RabbitMqWire.offset(props);
            if (offset < 0) {
                offset = part.localOffset++;
            }
            part.buffer.add(new Delivery(RabbitMqWire.decode(props, body), offset, envelope.getDeliveryTag(), part,
                    getChannel(), unclaimed, incarnation, RabbitMqWire.deliveryAttempt(props)));
            waiter.signal();
        }
    }

    RabbitMqConsumer(Connection connection, Topology topology, RabbitMqProducer producer, ConsumerSpec spec,
                     PartitionListener listener, Function<Runnable, MembershipStore> join) {
        this.connection = connection;
        this.producer = producer;
        this.topology = topology;
        this.spec = spec;
        this.configuredPrefetch = topology.settings().prefetch;
        this.parts = new Part[topology.partitions()];
        for (int p = 0; p < parts.length; p++) {
            parts[p] = new Part(p);
        }
        this.member = new GroupMember(join, listener, new GroupMember.Partitions() {
            @Override
            public void open(int partition) {
                openPartition(parts[partition]);
            }

            @Override
            public void close(int partition) {
                closePartition(parts[partition]);
            }
        }, waiter::signal);
    }

    private void openPartition(Part part) {
        try {
            Channel ch = connection.createChannel();
            part.channel = ch;
            ch.basicQos(configuredPrefetch > 0 ? configuredPrefetch : Math.max(1, maxRoom));
            boolean drain = false;
            if (spec.startFrom() == StartPosition.EARLIEST) {
                AMQP.Queue.DeclareOk ok = ch.queueDeclarePassive(Topology.unclaimedQueue(spec.topic(), part.partition));
                drain = ok.getMessageCount() > 0 || ok.getConsumerCount() > 0;
            }
            consume(part, drain);
        } catch (IOException | RuntimeException e) {
            closePartition(part);
            throw new TransientTransportException("opening partition " + part.partition + " of topic " + spec.topic()
                    + " group " + spec.group() + " on RabbitMQ failed: " + e.getMessage(), e);
        }
    }

    /**
     * The engine's room grew beyond what the owned partitions' prefetch was set to (the first polls, or a larger
     * bound): raise {@code basic.qos} to it, so the broker keeps the engine busy and holds the rest.
     */
    private void growPrefetch(int room) {
        maxRoom = room;
        if (configuredPrefetch > 0) {
            return;
        }
        for (Part part : parts) {
            Channel ch = part.channel;
            if (ch != null && ch.isOpen()) {
                try {
                    ch.basicQos(room);
                } catch (IOException | RuntimeException e) {
                    log.debug("raising the prefetch of partition {} failed: {}", part.partition, e.toString());
                }
            }
        }
    }

    private void consume(Part part, boolean unclaimed) throws IOException {
        String queue = unclaimed ? Topology.unclaimedQueue(spec.topic(), part.partition)
                : Topology.groupQueue(spec.topic(), spec.group(), part.partition);
        PartConsumer c = new PartConsumer(part.channel, part, unclaimed);
        part.consumer = c;
        part.draining = unclaimed;
        part.nextDrainCheck = System.nanoTime() + DRAIN_CHECK_NANOS;
        part.channel.basicConsume(queue, false, member.memberId() + "/" + part.partition, c);
    }

    private void closePartition(Part part) {
        if (part.consumer != null) {
            part.consumer.stopped = true;
        }
        Channel ch = part.channel;
        part.channel = null;
        part.consumer = null;
        part.incarnation++;
        part.unackedUnclaimed = 0;
        part.draining = false;
        part.released.clear(); // closing the channel hands them back, with everything else this member held
        if (ch != null && ch.isOpen()) {
            try {
                ch.close(); // returns what this member still held to the queue, in order
            } catch (IOException | RuntimeException | java.util.concurrent.TimeoutException e) {
                log.debug("closing the channel of partition {} of {} failed: {}", part.partition, spec.topic(),
                        e.toString());
            }
        }
        part.buffer.clear();
    }

    /**
     * Switches drained partitions from the unclaimed queue to the group's: once this member holds nothing of it,
     * the queue is empty, and no other member is consuming it (which could still hold some of it).
     *
     * @return true while some owned partition is still draining
     */
    private boolean switchDrained() {
        boolean draining = false;
        long now = System.nanoTime();
        for (Part part : parts) {
            if (!part.draining || !member.owns(part.partition)) {
                continue;
            }
            if (!part.buffer.isEmpty() || part.unackedUnclaimed > 0 || now < part.nextDrainCheck) {
                draining = true;
                continue;
            }
            try {
                AMQP.Queue.DeclareOk ok = part.channel.queueDeclarePassive(
                        Topology.unclaimedQueue(spec.topic(), part.partition));
                if (ok.getMessageCount() == 0 && ok.getConsumerCount() <= 1 && part.buffer.isEmpty()) {
                    part.consumer.stopped = true;
                    part.channel.basicCancel(part.consumer.getConsumerTag());
                    consume(part, false);
                    log.debug("partition {} of {} drained its unclaimed queue; reading group {}", part.partition,
                            spec.topic(), spec.group());
                } else {
                    part.nextDrainCheck = now + DRAIN_CHECK_NANOS;
                    draining = true;
                }
            } catch (IOException | RuntimeException e) {
                throw new TransientTransportException("checking the unclaimed queue of partition " + part.partition
                        + " of topic " + spec.topic() + " failed: " + e.getMessage(), e);
            }
        }
        return draining;
    }

    @Override
    public void poll(int maxRecords, long maxBytes, boolean oversizedFirst, long timeoutNanos, RecordSink sink)
            throws InterruptedException {
        waiter.enter();
        if (maxRecords > maxRoom) {
            growPrefetch(maxRecords);
        }
        long deadline = System.nanoTime() + timeoutNanos;
        handBackReleased();
        while (true) {
            member.rebalance();
            if (maxRecords == 0) {
                return;
            }
            boolean draining = switchDrained();
            int delivered = fetch(maxRecords, maxBytes, oversizedFirst, sink);
            if (waiter.consumeWakeup() | delivered > 0) {
                return;
            }
            long now = System.nanoTime();
            if (now >= deadline) {
                return;
            }
            waiter.await(draining ? Math.min(deadline, now + DRAIN_CHECK_NANOS) : deadline, ready);
        }
    }

    /**
     * Hands the sink buffered deliveries, one partition after the other, a message from each in turn, so a fetch
     * mixes the keys of all partitions instead of filling the engine's room from the first partition alone.
     */
    private int fetch(int maxRecords, long maxBytes, boolean oversizedFirst, RecordSink sink) {
        int delivered = 0;
        long bytes = 0;
        int n = parts.length;
        int start = nextPartition;
        nextPartition = (nextPartition + 1) % n;
        boolean progress = true;
        while (progress && delivered < maxRecords) {
            progress = false;
            for (int i = 0; i < n && delivered < maxRecords; i++) {
                int p = (start + i) % n;
                if (!member.isFetchable(p)) {
                    continue;
                }
                Part part = parts[p];
                Delivery d = part.buffer.peek();
                if (d == null) {
                    continue;
                }
                if (bytes + d.size > maxBytes && !(oversizedFirst && delivered == 0)) {
                    nextPartition = p; // it gets the first turn next time
                    return delivered;
                }
                part.buffer.poll();
                if (d.unclaimed) {
                    part.unackedUnclaimed++;
                }
                sink.accept(d.message, p, d.offset, d.size, d.attempt, d);
                bytes += d.size;
                delivered++;
                progress = true;
            }
        }
        return delivered;
    }

    private boolean readyToPoll() {
        if (member.rebalanceRequested()) {
            return true;
        }
        for (int p = 0; p < parts.length; p++) {
            if (member.isFetchable(p) && !parts[p].buffer.isEmpty()) {
                return true;
            }
        }
        return false;
    }

    private void settled(Delivery d) {
        if (d.unclaimed && d.incarnation == d.part.incarnation) {
            d.part.unackedUnclaimed--;
        }
    }

    @Override
    public void ack(Object ackHandle) {
        Delivery d = (Delivery) ackHandle;
        settled(d);
        try {
            if (d.channel.isOpen()) {
                d.channel.basicAck(d.tag, false);
            }
        } catch (IOException | RuntimeException e) {
            // The channel closed meanwhile: the broker redelivers the message (at least once).
            log.debug("ack of message {} failed: {}", d.message.id(), e.toString());
        }
    }

    /**
     * {@inheritDoc}
     *
     * <p>Deferred: the engine releases messages on shutdown and revocation one by one, in no particular order, and
     * a quorum queue redelivers returned messages in the order they came back. So released messages stay with this
     * member until the partition's channel closes (which returns everything it held, in delivery order) or, when the
     * partition stays, until the next poll, which hands them back in delivery order.
     */
    @Override
    public void release(Object ackHandle) {
        Delivery d = (Delivery) ackHandle;
        settled(d);
        Part part = d.part;
        if (d.incarnation == part.incarnation && part.channel != null) {
            part.released.add(d);
        }
    }

    private void handBackReleased() {
        for (Part part : parts) {
            if (part.released.isEmpty()) {
                continue;
            }
            part.released.sort((a, b) -> Long.compare(a.tag, b.tag));
            for (Delivery d : part.released) {
                try {
                    if (d.channel.isOpen()) {
                        d.channel.basicNack(d.tag, false, true);
                    }
                } catch (IOException | RuntimeException e) {
                    log.debug("release of message {} failed: {}", d.message.id(), e.toString());
                }
            }
            part.released.clear();
        }
    }

    /**
     * {@inheritDoc}
     *
     * <p>Native delay: the message (same id, bytes, headers and offset, plus the attempts made) is published to the
     * group's delay exchange, into the TTL queue of the shortest tier not shorter than the delay (the longest tier
     * when the delay is longer than all); once the broker confirmed it, the original is acked. When its TTL runs
     * out the broker dead-letters it back to the tail of its partition queue: later messages of its key are handled
     * before it, as the engine expects of native delay.
     */
    @Override
    public java.util.concurrent.CompletableFuture<Void> redeliverLater(io.sluice.spi.Redelivery r) {
        Delivery d = (Delivery) r.ackHandle();
        Part part = d.part;
        if (topology.settings().delayTiers.isEmpty()) {
            return java.util.concurrent.CompletableFuture.failedFuture(
                    new UnsupportedOperationException("rabbitmq.delayTiers is empty: native delay is off"));
        }
        if (d.incarnation != part.incarnation || part.channel == null) {
            return java.util.concurrent.CompletableFuture.failedFuture(new TransientTransportException("partition "
                    + part.partition + " of topic " + spec.topic() + " is no longer this member's"));
        }
        settled(d);
        long tier = topology.tierMillis(r.delayNanos());
        AMQP.BasicProperties props = RabbitMqWire.properties(d.message, d.offset, null, r.attemptsMade());
        return producer.sendRaw(Topology.delayExchange(spec.topic(), spec.group()), tier + "." + part.partition,
                props, d.message, part.partition, d.offset).thenRun(() -> {
                    try {
                        d.channel.basicAck(d.tag, false);
                    } catch (IOException | RuntimeException e) {
                        // The channel closed: the original comes again too (at least once).
                        log.debug("ack after the delayed retry of {} failed: {}", d.message.id(), e.toString());
                    }
                });
    }

    @Override
    public void commit(Map<Integer, Long> nextOffsets, boolean sync) {
        // per-message acks: nothing to commit
    }

    @Override
    public void pausePartitions(Collection<Integer> partitions) {
        member.pause(partitions);
    }

    @Override
    public void resumePartitions(Collection<Integer> partitions) {
        member.resume(partitions);
    }

    @Override
    public void wakeup() {
        waiter.wakeup();
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        member.leave();
    }
}
