package io.sluice.rabbitmq;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.DefaultConsumer;
import com.rabbitmq.client.Envelope;
import io.sluice.spi.support.MembershipStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A consumer group's membership kept in RabbitMQ, for {@link io.sluice.spi.support.GroupMember}: how members of one
 * group in any number of processes learn about each other.
 *
 * <p>Members: every member has an exclusive, server-named queue bound to the durable direct exchange
 * {@code sluice.groups} with routing key {@code <topic>/<group>}, and publishes a heartbeat ({@code H <id>}) there
 * every {@code group.heartbeatInterval}, and {@code L <id>} when it leaves. A member is alive while its heartbeats
 * keep arriving within {@code group.sessionTimeout}. {@link #members()} is the sorted ids, so every member computes
 * the same split once their views agree.
 *
 * <p>Leases: the broker's single-active-consumer on each partition queue. Views may disagree for a heartbeat or two;
 * a member that takes a partition its old owner has not let go of yet only becomes the queue's standby consumer and
 * receives nothing until the old owner's channel closes (after the engine drained it). So {@link #tryAcquire} only
 * needs the connection to be up, and a lease is lost when the connection was (the broker dropped every consumer and
 * requeued what they held).
 *
 * <p>Thread ownership: the {@link MembershipStore} methods run on the member's poll thread; heartbeats and expiry run
 * on the transport's scheduler thread, deliveries on the client's connection thread; they share only concurrent maps,
 * volatiles and atomics, and call the change callback, which is quick.
 */
final class RabbitMembership implements MembershipStore {
    private static final Logger log = LoggerFactory.getLogger(RabbitMembership.class);
    static final String EXCHANGE = "sluice.groups";

    private final Connection connection;
    private final String routingKey;
    private final String memberId;
    private final int partitions;
    private final Runnable onChange;
    private final long sessionNanos;
    private final Map<String, Long> lastSeen = new ConcurrentHashMap<>();
    private final AtomicLong generation = new AtomicLong();
    private final long[] acquiredEpoch;
    private final ScheduledFuture<?> ticker;
    /** Tells this member at once when the connection drops, however soon it recovers. */
    private final com.rabbitmq.client.ShutdownListener onShutdown = cause -> connectionLost();
    private volatile List<String> members;
    private volatile long epoch;
    private volatile boolean connected = true;
    private volatile boolean left;
    /** Used by the scheduler thread (heartbeats, re-joining after recovery) and the poll thread (join, leave). */
    private volatile Channel channel;

    RabbitMembership(Connection connection, ScheduledExecutorService scheduler, String topic, String group,
                     String memberId, int partitions, RabbitMqSettings settings, Runnable onChange) {
        this.connection = connection;
        this.routingKey = topic + "/" + group;
        this.memberId = memberId;
        this.partitions = partitions;
        this.onChange = onChange;
        this.sessionNanos = settings.sessionTimeout.toNanos();
        this.acquiredEpoch = new long[partitions];
        java.util.Arrays.fill(acquiredEpoch, -1);
        lastSeen.put(memberId, System.nanoTime());
        this.members = List.of(memberId);
        try {
            openChannel();
        } catch (IOException e) {
            throw new io.sluice.SluiceException("joining group " + group + " of topic " + topic + " on RabbitMQ "
                    + "failed: " + e.getMessage(), e);
        }
        connection.addShutdownListener(onShutdown);
        long interval = settings.heartbeatInterval.toNanos();
        // Give the members already there one heartbeat interval to answer, so a newcomer does not first take every
        // partition for itself (it would only be the standby consumer there, but the engine would see a rebalance).
        long until = System.nanoTime() + interval;
        while (members.size() == 1 && System.nanoTime() < until) {
            java.util.concurrent.locks.LockSupport.parkNanos(Math.min(until - System.nanoTime(), 5_000_000));
        }
        this.ticker = scheduler.scheduleAtFixedRate(this::tick, interval, interval, TimeUnit.NANOSECONDS);
    }

    private void openChannel() throws IOException {
        Channel old = channel;
        if (old != null && old.isOpen()) {
            try {
                old.close(); // recovered by the client, but its queue and consumer are gone with the old connection
            } catch (IOException | RuntimeException | java.util.concurrent.TimeoutException e) {
                log.debug("closing the old group channel of {} failed: {}", memberId, e.toString());
            }
        }
        Channel ch = connection.createChannel();
        ch.exchangeDeclare(EXCHANGE, "direct", true);
        String queue = ch.queueDeclare("", false, true, true, null).getQueue();
        ch.queueBind(queue, EXCHANGE, routingKey);
        ch.basicConsume(queue, true, new DefaultConsumer(ch) {
            @Override
            public void handleDelivery(String tag, Envelope envelope, AMQP.BasicProperties props, byte[] body) {
                heard(new String(body, StandardCharsets.UTF_8));
            }
        });
        channel = ch;
        heartbeat();
    }

    private void heard(String text) {
        if (text.length() < 3) {
            return;
        }
        String id = text.substring(2);
        if (text.charAt(0) == 'H') {
            if (lastSeen.put(id, System.nanoTime()) == null) {
                changed();
                heartbeat(); // a newcomer learns of this member at once, not one interval later
            }
        } else if (text.charAt(0) == 'L' && !id.equals(memberId)) {
            if (lastSeen.remove(id) != null) {
                changed();
            }
        }
    }

    private void changed() {
        List<String> ids = new ArrayList<>(lastSeen.keySet());
        ids.sort(null);
        members = List.copyOf(ids);
        generation.incrementAndGet();
        onChange.run();
    }

    private void heartbeat() {
        publish("H " + memberId);
    }

    private void publish(String text) {
        Channel ch = channel;
        if (ch == null || !ch.isOpen()) {
            return;
        }
        try {
            ch.basicPublish(EXCHANGE, routingKey, null, text.getBytes(StandardCharsets.UTF_8));
        } catch (IOException | RuntimeException e) {
            log.debug("group heartbeat of {} failed: {}", memberId, e.toString());
        }
    }

    /** Scheduler thread: heartbeat, expire silent members, re-join after the connection came back. */
    private void tick() {
        if (left) {
            return;
        }
        Channel ch = channel;
        if (connected && (ch == null || !ch.isOpen() || !connection.isOpen())) {
            connectionLost();
        }
        if (!connected && connection.isOpen()) {
            try {
                openChannel();
                connected = true;
                log.info("member {} re-joined its group after the connection to RabbitMQ recovered", memberId);
                changed();
            } catch (IOException | RuntimeException e) {
                log.debug("re-joining the group failed, will retry: {}", e.toString());
            }
            return;
        }
        heartbeat();
        long now = System.nanoTime();
        boolean expired = false;
        for (Map.Entry<String, Long> e : lastSeen.entrySet()) {
            if (!e.getKey().equals(memberId) && now - e.getValue() > sessionNanos) {
                expired |= lastSeen.remove(e.getKey(), e.getValue());
            }
        }
        if (expired) {
            changed();
        }
    }

    /** The connection dropped: every lease (single-active-consumer) is gone with it. Any thread. */
    void connectionLost() {
        if (!connected || left) {
            return;
        }
        connected = false;
        epoch++;
        generation.incrementAndGet();
        onChange.run();
    }

    @Override
    public String memberId() {
        return memberId;
    }

    @Override
    public int partitions() {
        return partitions;
    }

    @Override
    public List<String> members() {
        return members;
    }

    @Override
    public long generation() {
        return generation.get();
    }

    @Override
    public boolean tryAcquire(int partition) {
        if (!connected || !connection.isOpen()) {
            return false;
        }
        acquiredEpoch[partition] = epoch;
        return true;
    }

    @Override
    public boolean holds(int partition) {
        return acquiredEpoch[partition] == epoch && connected;
    }

    @Override
    public void release(int partition) {
        acquiredEpoch[partition] = -1;
    }

    @Override
    public void leave() {
        if (left) {
            return;
        }
        left = true;
        ticker.cancel(false);
        connection.removeShutdownListener(onShutdown);
        publish("L " + memberId);
        Channel ch = channel;
        if (ch != null && ch.isOpen()) {
            try {
                ch.close(); // the exclusive, auto-delete queue goes with it
            } catch (IOException | RuntimeException | java.util.concurrent.TimeoutException e) {
                log.debug("closing the group channel of {} failed: {}", memberId, e.toString());
            }
        }
    }
}
