package io.sluice.rabbitmq;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.ConfirmListener;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ReturnListener;
import com.rabbitmq.client.ShutdownSignalException;
import io.sluice.Message;
import io.sluice.PublishException;
import io.sluice.Receipt;
import io.sluice.spi.TransientTransportException;
import io.sluice.spi.TransportProducer;
import io.sluice.spi.support.KeyPartitioner;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentNavigableMap;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;

/**
 * Publishes with publisher confirms and {@code mandatory} on one channel of the transport's publishing connection.
 *
 * <p>Thread ownership: {@link #send} may be called by any thread; it only enqueues. One platform thread,
 * {@code sluice-rabbitmq-publisher}, owns the channel: it declares topics on first use, chooses the partition
 * ({@link KeyPartitioner}: the key hash every transport uses), assigns the partition's next offset, and publishes,
 * so no lock is held across I/O and no caller ever blocks on the socket. Confirms and returns arrive on the client's
 * connection thread, which completes the futures. At most {@code publish.maxPendingConfirms} messages are
 * unconfirmed at once (the publisher thread waits for a permit).
 *
 * <p>Offsets: RabbitMQ queues have none, so the publisher numbers the messages of each partition, starting from the
 * current time in microseconds, and writes the number into the message ({@code x-sluice-offset}); the receipt and
 * the consumer report the same number. It increases within a partition for one publishing transport; messages of
 * several publishers interleave in the queue in arrival order.
 */
final class RabbitMqProducer implements TransportProducer {
    private static final Logger log = LoggerFactory.getLogger(RabbitMqProducer.class);
    private static final Send STOP = new Send(null, null);
    /**
     * The message header whose value (0 to {@code rabbitmq.maxPriority}) becomes the AMQP priority, when the
     * partition queues are classic queues with {@code x-max-priority}; ignored otherwise.
     */
    static final String PRIORITY = "priority";

    private final Connection connection;
    private final Topology topology;
    private final LinkedBlockingQueue<Send> queue = new LinkedBlockingQueue<>();
    private final ConcurrentSkipListMap<Long, Send> pending = new ConcurrentSkipListMap<>();
    private final Semaphore permits;
    private final Thread thread;
    private volatile boolean closed;
    // Publisher-thread state.
    private Channel channel;
    private final Map<String, TopicState> topics = new HashMap<>();

    private static final class TopicState {
        final String exchange;
        final KeyPartitioner partitioner;
        final long[] nextOffset;

        TopicState(String topic, int partitions) {
            this.exchange = Topology.exchange(topic);
            this.partitioner = new KeyPartitioner(partitions);
            this.nextOffset = new long[partitions];
            java.util.Arrays.fill(nextOffset, System.currentTimeMillis() * 1000);
        }
    }

    /** One message on its way: created by the caller, completed by the connection thread. */
    static final class Send {
        final String topic;
        final Message message;
        final CompletableFuture<Receipt> future = new CompletableFuture<>();
        /** Set for a raw send (a retry into a delay tier): where to, and what, as given. */
        String exchange;
        String routingKey;
        AMQP.BasicProperties props;
        int partition;
        long offset;
        volatile boolean returned;
        volatile String returnText;

        Send(String topic, Message message) {
            this.topic = topic;
            this.message = message;
        }
    }

    RabbitMqProducer(Connection connection, Topology topology) {
        this.connection = connection;
        this.topology = topology;
        this.permits = new Semaphore(topology.settings().maxPendingConfirms);
        this.thread = Thread.ofPlatform().daemon(true).name("sluice-rabbitmq-publisher").start(this::run);
    }

    @Override
    public CompletableFuture<Receipt> send(String topic, Message message) {
        Send s = new Send(topic, message);
        if (closed) {
            s.future.completeExceptionally(new PublishException("the rabbitmq transport is closed"));
            return s.future;
        }
        queue.add(s);
        return s.future;
    }

    /**
     * Publishes a prepared message to {@code exchange} (a group's delay exchange), with confirms and mandatory; the
     * future completes once the broker confirmed it. Any thread.
     */
    CompletableFuture<Void> sendRaw(String exchange, String routingKey, AMQP.BasicProperties props, Message message,
                                    int partition, long offset) {
        Send s = new Send(exchange, message);
        s.exchange = exchange;
        s.routingKey = routingKey;
        s.props = props;
        s.partition = partition;
        s.offset = offset;
        if (closed) {
            s.future.completeExceptionally(new PublishException("the rabbitmq transport is closed"));
        } else {
            queue.add(s);
        }
        return s.future.thenApply(r -> null);
    }

    private void run() {
        java.util.ArrayList<Send> batch = new java.util.ArrayList<>(256);
        int next = 0;
        try {
            while (true) {
                batch.clear();
                next = 0;
                batch.add(queue.take());
                queue.drainTo(batch, 255); // one wake-up for what queued meanwhile
                while (next < batch.size()) {
                    Send s = batch.get(next++);
                    if (s == STOP) {
                        return;
                    }
                    try {
                        publish(s);
                    } catch (RuntimeException | Error e) { // never let one message end the publisher thread
                        s.future.completeExceptionally(new PublishException("publishing message "
                                + (s.message == null ? "?" : s.message.id()) + " failed: " + e, e));
                    }
                }
            }
        } catch (InterruptedException e) {
            // closing
        } finally {
            for (int i = next; i < batch.size(); i++) {
                if (batch.get(i) != STOP) {
                    batch.get(i).future.completeExceptionally(new PublishException("the rabbitmq transport was closed"));
                }
            }
            failQueued();
        }
    }

    private void failQueued() {
        Send s;
        while ((s = queue.poll()) != null) {
            if (s != STOP) {
                s.future.completeExceptionally(new PublishException("the rabbitmq transport was closed"));
            }
        }
    }

    private void publish(Send s) throws InterruptedException {
        Channel ch;
        try {
            ch = channel();
        } catch (IOException | RuntimeException e) {
            s.future.completeExceptionally(new TransientTransportException(
                    "no channel to RabbitMQ (" + e.getMessage() + ")", e));
            return;
        }
        if (s.exchange != null) {
            permits.acquire();
            long seq = ch.getNextPublishSeqNo();
            pending.put(seq, s);
            try {
                ch.basicPublish(s.exchange, s.routingKey, true, s.props, s.message.payload());
            } catch (IOException | RuntimeException e) {
                if (pending.remove(seq) != null) {
                    permits.release();
                    s.future.completeExceptionally(new TransientTransportException(
                            "publish to RabbitMQ failed (" + e.getMessage() + ")", e));
                }
            }
            return;
        }
        TopicState t = topics.get(s.topic);
        if (t == null) {
            try {
                topology.declareTopic(ch, s.topic);
            } catch (IOException | RuntimeException e) {
                channel = null; // a failed declaration closes the channel
                s.future.completeExceptionally(declareFailure(s.topic, e));
                return;
            }
            t = new TopicState(s.topic, topology.partitions());
            topics.put(s.topic, t);
        }
        if (s.message.estimatedSize() > RabbitMqTransport.MAX_MESSAGE_BYTES) {
            s.future.completeExceptionally(new PublishException("message " + s.message.id() + " is "
                    + s.message.estimatedSize() + " bytes, over RabbitMQ's max_message_size of "
                    + RabbitMqTransport.MAX_MESSAGE_BYTES));
            return;
        }
        for (int i = 0, n = s.message.headers().size(); i < n; i++) {
            if (s.message.headers().name(i).startsWith(RabbitMqWire.RESERVED)) {
                s.future.completeExceptionally(new PublishException("message " + s.message.id() + " has header "
                        + s.message.headers().name(i) + ": names starting with " + RabbitMqWire.RESERVED
                        + " are reserved by the rabbitmq transport"));
                return;
            }
        }
        Integer priority = null;
        int maxPriority = topology.settings().maxPriority;
        if (maxPriority > 0) {
            String text = s.message.headers().get(PRIORITY);
            if (text != null) {
                try {
                    priority = Integer.parseInt(text.trim());
                } catch (NumberFormatException e) {
                    priority = -1;
                }
                if (priority < 0 || priority > maxPriority) {
                    s.future.completeExceptionally(new PublishException("message " + s.message.id() + " has header "
                            + PRIORITY + "='" + text + "': must be a whole number from 0 to rabbitmq.maxPriority ("
                            + maxPriority + ")"));
                    return;
                }
            }
        }
        permits.acquire();
        int p = t.partitioner.partitionFor(s.message);
        long offset = t.nextOffset[p]++;
        s.partition = p;
        s.offset = offset;
        AMQP.BasicProperties props = RabbitMqWire.properties(s.message, offset, priority);
        long seq = ch.getNextPublishSeqNo();
        pending.put(seq, s);
        try {
            ch.basicPublish(t.exchange, topology.routingKey(p), true, props, s.message.payload());
        } catch (IOException | RuntimeException e) {
            if (pending.remove(seq) != null) {
                permits.release();
                s.future.completeExceptionally(new TransientTransportException(
                        "publish to RabbitMQ failed (" + e.getMessage() + ")", e));
            }
        }
    }

    private static RuntimeException declareFailure(String topic, Exception e) {
        Throwable cause = e.getCause() instanceof ShutdownSignalException sse ? sse : e;
        String text = cause.getMessage();
        if (text != null && text.contains("PRECONDITION_FAILED")) {
            return new PublishException("declaring topic " + topic + " failed: its queues exist with other "
                    + "arguments (queue type, priority, delivery limit): " + text, e);
        }
        return new TransientTransportException("declaring topic " + topic + " failed: " + text, e);
    }

    private Channel channel() throws IOException {
        Channel ch = channel;
        if (ch != null && ch.isOpen()) {
            return ch;
        }
        if (ch != null) {
            failPending("the channel to RabbitMQ closed before the broker confirmed; outcome unknown");
        }
        ch = connection.createChannel();
        ch.confirmSelect();
        ch.addConfirmListener(new ConfirmListener() {
            @Override
            public void handleAck(long deliveryTag, boolean multiple) {
                confirmed(deliveryTag, multiple, true);
            }

            @Override
            public void handleNack(long deliveryTag, boolean multiple) {
                confirmed(deliveryTag, multiple, false);
            }
        });
        ch.addReturnListener((ReturnListener) (replyCode, replyText, exchange, routingKey, properties, body) -> {
            String id = properties.getMessageId();
            for (Send s : pending.values()) {
                if (!s.returned && s.message.id().equals(id)) {
                    s.returnText = replyCode + " " + replyText + " (exchange " + exchange + ", routing key "
                            + routingKey + ")";
                    s.returned = true;
                    break;
                }
            }
        });
        ch.addShutdownListener(cause -> failPending(
                "the connection to RabbitMQ was lost before the broker confirmed; outcome unknown: "
                        + cause.getMessage()));
        channel = ch;
        return ch;
    }

    private void confirmed(long seq, boolean multiple, boolean ack) {
        if (multiple) {
            ConcurrentNavigableMap<Long, Send> head = pending.headMap(seq, true);
            for (Map.Entry<Long, Send> e; (e = head.pollFirstEntry()) != null; ) {
                finish(e.getValue(), ack);
            }
        } else {
            Send s = pending.remove(seq);
            if (s != null) {
                finish(s, ack);
            }
        }
    }

    private void finish(Send s, boolean ack) {
        permits.release();
        if (!ack) {
            s.future.completeExceptionally(new TransientTransportException("RabbitMQ refused message " + s.message.id()
                    + " (basic.nack)"));
        } else if (s.returned) {
            s.future.completeExceptionally(new PublishException("message " + s.message.id() + " to topic " + s.topic
                    + " was unroutable: " + s.returnText));
        } else {
            s.future.complete(new Receipt(s.topic, s.partition, s.offset, s.message.id()));
        }
    }

    private void failPending(String why) {
        for (Map.Entry<Long, Send> e; (e = pending.pollFirstEntry()) != null; ) {
            permits.release();
            e.getValue().future.completeExceptionally(new TransientTransportException(why));
        }
    }

    void close() {
        closed = true;
        queue.add(STOP);
        try {
            thread.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (thread.isAlive()) {
            thread.interrupt();
        }
        failPending("the rabbitmq transport was closed before the broker confirmed");
        log.debug("rabbitmq publisher closed");
    }
}
