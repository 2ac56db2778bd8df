package io.sluice.nats;

import io.nats.client.Connection;
import io.nats.client.Dispatcher;
import io.nats.client.JetStreamApiException;
import io.sluice.Message;
import io.sluice.SluiceException;
import io.sluice.spi.ConsumerSpec;
import io.sluice.spi.PartitionListener;
import io.sluice.spi.RecordSink;
import io.sluice.spi.Redelivery;
import io.sluice.spi.TransientTransportException;
import io.sluice.spi.TransportConsumer;
import io.sluice.spi.support.PollWaiter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * One group member on a JetStream topic. Each partition has a durable pull consumer per group ({@code <group>__p<n>})
 * and belongs to one member at a time through a lease; leases, heartbeats and consumer set-up are the
 * {@link GroupCoordinator}'s, on its own threads, which tells this class what changed.
 *
 * <p>Fetching. The member sends pull requests ({@code $JS.API.CONSUMER.MSG.NEXT}) itself, only while connected and
 * while its lease time lasts, at most one outstanding per owned partition; which and how large is the
 * {@link PullScheduler}'s (per-partition state in {@link JetStreamPartition}). A request asks for at most the room
 * the engine has left minus what is buffered or already requested, in messages and in bytes ({@code max_bytes}), and
 * at most what the partition's {@code MaxAckPending} still allows, so fetched-but-unfinished messages stay within the
 * engine's bounds. Replies arrive on a private inbox ({@code <inbox>.<partition>.<request>}) through a jnats
 * dispatcher, which decodes them into a lock-free queue that the poll thread drains.
 *
 * <p>Outcomes. {@link #ack} sends {@code +ACK}, {@link #deadLettered} {@code +TERM}, {@link #redeliverLater}
 * {@code -NAK} with a delay (confirmed by the server's reply). Messages fetched and not yet finished, whether the
 * engine holds them or they wait in this class's buffer (paused subscription, byte bound), get {@code +WPI} (in
 * progress) every third of the ack wait, so the server does not redeliver them behind the engine's back
 * ({@link InProgressAcks}; while the poll thread is inside a rebalance callback the keep-alive thread sends them).
 * Released messages (shutdown,
 * rebalance) are {@code -NAK}ed in stream order after outstanding pulls have ended, so the next owner gets them back
 * in order; a partition's lease is given up only once the server confirmed those naks.
 *
 * <p>Not thread-safe: owned by the subscription's poll thread, except {@link #wakeup()} (any thread), the
 * dispatcher callback (touches only the inbound queue), and {@link InProgressAcks#sweepFromKeepAlive} (keep-alive
 * thread, only while the poll thread is inside a listener callback).
 */
final class JetStreamConsumer implements TransportConsumer {
    private static final Logger log = LoggerFactory.getLogger(JetStreamConsumer.class);
    private static final byte[] ACK = "+ACK".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] NAK = "-NAK".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] TERM = "+TERM".getBytes(StandardCharsets.US_ASCII);
    /** Longest park inside one poll, so lease time and request expiry are looked at often. */
    private static final long TICK_NANOS = TimeUnit.MILLISECONDS.toNanos(100);

    private final Connection nc;
    private final NatsTransport transport;
    private final NatsSettings settings;
    private final StreamRegistry.TopicStream ts;
    private final ConsumerSpec spec;
    private final PartitionListener listener;
    private final GroupCoordinator group;
    private final Dispatcher dispatcher;
    private final String inbox;
    private final JetStreamPartition[] parts;
    private final PullScheduler pulls;
    private final ConcurrentLinkedQueue<Fetched> inbound = new ConcurrentLinkedQueue<>();
    private final long pullExpiryNanos;
    private final long pullGraceNanos;
    private final int topicPrefixLength;

    // Poll-thread state.
    private final ArrayDeque<Fetched> buffered = new ArrayDeque<>();
    private final InProgressAcks progress;
    private final List<Fetched> toRelease = new ArrayList<>();
    private long bufferedBytes;
    private int inFlightBound;
    private long deliveredBytes;
    private long seenReconnects;
    private int owned;
    private int revoking;
    /** Owned partitions paused by the engine ({@link #pausePartitions}). */
    private int paused;
    private boolean closed;

    /** Parks the poll thread; the dispatcher signals after adding to {@link #inbound}, the coordinator after an event. */
    private final PollWaiter waiter = new PollWaiter();
    /** Whether the poll thread has something to take: a reply or a group event (both in concurrent queues). */
    private final BooleanSupplier hasWork = this::workWaiting;
    /** For {@link #close}: whether a reply arrived. */
    private final BooleanSupplier hasInbound = () -> !inbound.isEmpty();

    JetStreamConsumer(NatsTransport transport, ConsumerSpec spec, PartitionListener listener) {
        this.transport = transport;
        this.nc = transport.connection();
        this.settings = transport.settings();
        this.spec = spec;
        this.listener = listener;
        this.ts = transport.streams().stream(spec.topic());
        this.pullExpiryNanos = settings.pullExpiry.toNanos();
        this.pullGraceNanos = Math.max(TimeUnit.SECONDS.toNanos(1), pullExpiryNanos);
        this.progress = new InProgressAcks(buffered, this::publish, this::leaseValidAt, settings.ackWait.toNanos());
        this.topicPrefixLength = spec.topic().length() + 1;
        this.parts = new JetStreamPartition[ts.partitions()];
        for (int p = 0; p < parts.length; p++) {
            parts[p] = new JetStreamPartition(p, "$JS.API.CONSUMER.MSG.NEXT." + ts.stream() + "."
                    + Names.durable(spec.group(), p));
        }
        String memberId = Names.escape(spec.memberId()) + "-" + UUID.randomUUID().toString().substring(0, 8);
        this.inbox = "_INBOX.sluice." + UUID.randomUUID().toString().replace("-", "");
        this.seenReconnects = transport.reconnects();
        this.dispatcher = nc.createDispatcher(this::onMessage);
        GroupCoordinator coordinator = null;
        try {
            dispatcher.subscribe(inbox + ".>");
            coordinator = new GroupCoordinator(transport, ts, spec, memberId, waiter::signal,
                    progress::sweepFromKeepAlive);
            coordinator.start();
        } catch (IOException | JetStreamApiException e) {
            abortStart(coordinator);
            throw new TransientTransportException("could not join group " + spec.group() + " on topic "
                    + spec.topic() + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            abortStart(coordinator);
            throw new SluiceException("interrupted while joining group " + spec.group(), e);
        } catch (RuntimeException | Error e) {
            abortStart(coordinator);
            throw e;
        }
        this.group = coordinator;
        this.pulls = new PullScheduler(nc, coordinator, parts, inbox, spec.topic(), settings);
        log.debug("Member {} joined group {} on topic {} (stream {})", memberId, spec.group(), spec.topic(),
                ts.stream());
    }

    private void abortStart(GroupCoordinator coordinator) {
        if (coordinator != null) {
            coordinator.abort();
        }
        try {
            nc.closeDispatcher(dispatcher);
        } catch (RuntimeException e) {
            // connection already closed
        }
    }

    // ------------------------------------------------------------------ dispatcher thread

    private void onMessage(io.nats.client.Message msg) {
        String subject = msg.getSubject();
        if (msg.isStatusMessage()) {
            // Status replies come on the request's own inbox subject: <inbox>.<partition>.<request>
            if (!subject.startsWith(inbox)) {
                return;
            }
            int dot = subject.indexOf('.', inbox.length() + 1);
            int partition = JetStreamAckSubject.parseInt(subject, inbox.length() + 1, dot);
            long request = JetStreamAckSubject.parseLong(subject, dot + 1, subject.length());
            int code = msg.getStatus().getCode();
            if (partition >= 0 && partition < parts.length && code != 100) {
                // 100 is an idle heartbeat; 404, 408 and 409 end the pull request
                inbound.add(Fetched.status(partition, request, code, msg.getStatus().getMessage()));
                waiter.signal();
            }
            return;
        }
        // Messages keep their stream subject, <topic>.<partition>; they answer the partition's current request.
        int partition = JetStreamAckSubject.parseInt(subject, topicPrefixLength, subject.length());
        if (partition < 0 || partition >= parts.length) {
            return;
        }
        String reply = msg.getReplyTo();
        if (reply == null) {
            return;
        }
        Fetched f = new Fetched();
        f.partition = partition;
        f.request = PullScheduler.CURRENT_REQUEST;
        f.replyTo = reply;
        JetStreamAckSubject.parse(reply, f);
        try {
            f.message = NatsWire.decode(msg);
        } catch (RuntimeException e) {
            // Not a Sluice message we can read: hand it on as raw bytes so the engine can dead-letter it.
            f.message = Message.builder().payload(msg.getData() == null ? new byte[0] : msg.getData()).build();
        }
        f.size = f.message.estimatedSize();
        inbound.add(f);
        waiter.signal();
    }

    // ------------------------------------------------------------------ poll thread

    @Override
    public void poll(int maxRecords, long maxBytes, boolean oversizedFirst, long timeoutNanos, RecordSink sink)
            throws InterruptedException {
        waiter.enter();
        if (maxRecords > inFlightBound || inFlightBound == 0) {
            inFlightBound = Math.max(inFlightBound, maxRecords);
            group.pollStarted(inFlightBound);
        }
        long deadline = System.nanoTime() + timeoutNanos;
        while (true) {
            maintain();
            // Read after maintain: it may have spent seconds in a rebalance callback, and a stale time would stamp
            // pulls with deadlines already past and judge the lease by a moment long gone.
            long now = System.nanoTime();
            drainInbound(now);
            if (maxRecords == 0) {
                flushReleases();
                return;
            }
            int delivered = 0;
            if (group.leaseValid(now)) {
                delivered = deliver(maxRecords, maxBytes, oversizedFirst, sink);
                if (!closed) {
                    pulls.requestMore(maxRecords - delivered, maxBytes - deliveredBytes,
                            oversizedFirst && delivered == 0, buffered.size(), bufferedBytes, inFlightBound, now);
                }
            }
            if (waiter.consumeWakeup() | delivered > 0) { // consume a wakeup either way
                return;
            }
            long remaining = deadline - System.nanoTime();
            if (remaining <= 0) {
                return;
            }
            // At most a tick, so lease time and request expiry are looked at often.
            waiter.await(System.nanoTime() + Math.min(remaining, TICK_NANOS), hasWork);
        }
    }

    /**
     * Applies group events, fences, expires and extends requests, finishes revocations and sends in-progress acks.
     * Several steps run listener callbacks that can block for seconds, so each step reads the clock itself.
     */
    private void maintain() {
        applyEvents();
        if (owned > 0 && !group.leaseValid(System.nanoTime())) {
            fence();
        }
        long now = System.nanoTime();
        long reconnects = transport.reconnects();
        if (reconnects != seenReconnects) {
            seenReconnects = reconnects;
            pulls.extend(now);
        }
        if (nc.getStatus() == Connection.Status.CONNECTED) {
            pulls.expire(now);
        }
        finishRevocations();
        progress.maybeSend(System.nanoTime());
        flushReleases();
    }

    /** Applies what the coordinator decided: assignments, revocations to start, partitions lost. */
    private void applyEvents() {
        List<Integer> assigned = null;
        GroupCoordinator.Event e;
        while ((e = group.nextEvent()) != null) {
            JetStreamPartition p = parts[e.partition()];
            if (e.kind() != GroupCoordinator.Event.Kind.ASSIGN && assigned != null) {
                announceAssigned(assigned);
                assigned = null;
            }
            switch (e.kind()) {
                case ASSIGN -> {
                    if (p.owned) {
                        lose(List.of(p.index), false); // cannot happen: the coordinator revokes or loses first
                    }
                    long now = System.nanoTime(); // a LOST callback before may have taken a while
                    unpause(p); // an assignment starts unpaused
                    p.owned = true;
                    p.epoch = e.epoch();
                    p.held = e.holdNanos() > 0;
                    p.holdUntil = now + e.holdNanos();
                    p.retryAt = now;
                    owned++;
                    (assigned == null ? assigned = new ArrayList<>() : assigned).add(p.index);
                }
                case REVOKE -> {
                    if (p.owned && p.epoch == e.epoch() && !p.revoking) {
                        p.revoking = true; // stop pulling; let go once its outstanding pull has ended
                        revoking++;
                    }
                }
                case LOST -> {
                    if (p.owned && p.epoch == e.epoch()) {
                        lose(List.of(p.index), false);
                    }
                }
            }
        }
        if (assigned != null) {
            announceAssigned(assigned);
        }
    }

    private void announceAssigned(List<Integer> assigned) {
        progress.runCallback(() -> listener.assigned(assigned));
    }

    /**
     * This member's lease time ran out (see {@link GroupCoordinator}): others may take its partitions over, so it stops
     * fetching, dispatching and sending in-progress acks for them and gives them all up as lost.
     */
    private void fence() {
        List<Integer> all = new ArrayList<>();
        for (JetStreamPartition p : parts) {
            if (p.owned) {
                all.add(p.index);
            }
        }
        log.warn("Member {} of group {} on topic {} has had no heartbeat stored for longer than its session allows "
                        + "(the process stalled, or the server or its key-value bucket did not answer); it gives up "
                        + "partitions {} so that another member can take them, and takes them back when it can",
                group.memberId(), spec.group(), spec.topic(), all);
        lose(all, true);
    }

    /** Gives {@code partitions} up at once: the engine abandons their work, unfinished messages are nak'ed. */
    private void lose(List<Integer> partitions, boolean tellCoordinator) {
        progress.runCallback(() -> listener.lost(partitions));
        for (int index : partitions) {
            JetStreamPartition p = parts[index];
            int epoch = p.epoch;
            dropPartition(p);
            if (tellCoordinator) {
                group.dropped(index, epoch);
            }
        }
        flushReleases();
    }

    /**
     * Lets go of revoking partitions whose outstanding pull has ended: engine first, then naks as requests; the
     * coordinator gives the lease up once the server confirmed them.
     */
    private void finishRevocations() {
        if (revoking == 0) {
            return;
        }
        List<Integer> revoked = null;
        for (JetStreamPartition p : parts) {
            if (p.revoking && p.outstanding == 0) {
                (revoked == null ? revoked = new ArrayList<>() : revoked).add(p.index);
            }
        }
        if (revoked == null) {
            return;
        }
        List<Integer> done = revoked;
        progress.runCallback(() -> listener.revoked(done));
        drainInbound(System.nanoTime());
        int[] epochs = new int[revoked.size()];
        for (int i = 0; i < epochs.length; i++) {
            JetStreamPartition p = parts[revoked.get(i)];
            epochs[i] = p.epoch;
            dropPartition(p);
        }
        CompletableFuture<Void>[] confirmations = sendReleases(true);
        for (int i = 0; i < epochs.length; i++) {
            int p = revoked.get(i);
            CompletableFuture<Void> c = confirmations[p];
            group.released(p, epochs[i], c != null ? c : CompletableFuture.completedFuture(null));
        }
    }

    /** Forgets a partition this member no longer owns; its buffered messages are handed back. */
    private void dropPartition(JetStreamPartition p) {
        if (p.owned) {
            owned--;
        }
        unpause(p);
        p.owned = false;
        p.held = false;
        if (p.revoking) {
            p.revoking = false;
            revoking--;
        }
        Iterator<Fetched> it = buffered.iterator();
        while (it.hasNext()) {
            Fetched f = it.next();
            if (f.partition == p.index) {
                it.remove();
                bufferedBytes -= f.size;
                toRelease.add(f);
            }
        }
        p.buffered = 0;
        p.inEngine = 0;
        p.parked.clear(); // delayed redeliveries now go to the next owner, which counts attempts afresh
        p.largeHead = false;
    }

    private void drainInbound(long now) {
        Fetched f;
        while ((f = inbound.poll()) != null) {
            JetStreamPartition p = parts[f.partition];
            pulls.onReply(p, f, now);
            if (f.status != 0) {
                continue;
            }
            if (!p.owned) {
                toRelease.add(f); // late reply for a partition let go
                continue;
            }
            p.largeHead = false;
            f.epoch = p.epoch;
            f.heldSince = now; // the server's ack wait started when it sent the message
            buffered.add(f);
            bufferedBytes += f.size;
            p.buffered++;
        }
    }

    private int deliver(int maxRecords, long maxBytes, boolean oversizedFirst, RecordSink sink) {
        int n = 0;
        long bytes = 0;
        // With a partition paused, its messages stay in the buffer, in order, while the others' pass them.
        Iterator<Fetched> it = paused == 0 ? null : buffered.iterator();
        Fetched f;
        while (n < maxRecords) {
            if (it == null) {
                if ((f = buffered.peek()) == null) {
                    break;
                }
            } else {
                if (!it.hasNext()) {
                    break;
                }
                f = it.next();
                if (parts[f.partition].paused) {
                    continue;
                }
            }
            if (bytes + f.size > maxBytes && !(oversizedFirst && n == 0)) {
                break;
            }
            if (it == null) {
                buffered.poll();
            } else {
                it.remove();
            }
            JetStreamPartition p = parts[f.partition];
            bufferedBytes -= f.size;
            p.buffered--;
            p.inEngine++;
            progress.hold(f);
            int attempt = 1;
            if (f.delivered > 1 && !p.parked.isEmpty()) {
                // One of this member's delayed redeliveries: continue its attempt count. Any other redelivery
                // (release on rebalance or shutdown, ack wait after a crash) is not a handler attempt.
                Integer next = p.parked.remove(f.seq);
                if (next != null) {
                    attempt = next;
                }
            }
            p.lastPending = f.pending;
            Message message = f.message;
            f.message = null; // the engine holds it; the handle need not
            sink.accept(message, f.partition, f.seq, f.size, attempt, f);
            n++;
            bytes += f.size;
        }
        deliveredBytes = bytes;
        return n;
    }

    /**
     * Stops pulling these partitions: no new pull request is sent for them, and messages of a pull still outstanding
     * (or already buffered) stay in this member's buffer, undelivered, with in-progress acks, until
     * {@link #resumePartitions}. They still count against the in-flight bound, so the other partitions are not
     * offered room the paused one holds. Poll thread.
     */
    @Override
    public void pausePartitions(java.util.Collection<Integer> partitions) {
        for (int index : partitions) {
            if (index >= 0 && index < parts.length) {
                JetStreamPartition p = parts[index];
                if (p.owned && !p.paused) {
                    p.paused = true;
                    paused++;
                }
            }
        }
    }

    /** Resumes pulling and delivering partitions paused by {@link #pausePartitions}. Poll thread. */
    @Override
    public void resumePartitions(java.util.Collection<Integer> partitions) {
        for (int index : partitions) {
            if (index >= 0 && index < parts.length) {
                unpause(parts[index]);
            }
        }
    }

    private void unpause(JetStreamPartition p) {
        if (p.paused) {
            p.paused = false;
            paused--;
        }
    }

    /** For {@link InProgressAcks}, which exists before {@link #group} does (the coordinator takes its sweep). */
    private boolean leaseValidAt(long nanos) {
        return group.leaseValid(nanos);
    }

    @Override
    public void wakeup() {
        waiter.wakeup();
    }

    /** {@link #waiter}'s condition: a reply or a group event waits (both in concurrent queues). Poll thread. */
    private boolean workWaiting() {
        return !inbound.isEmpty() || group.hasEvents();
    }

    @Override
    public void commit(Map<Integer, Long> nextOffsets, boolean sync) {
        // per-message acknowledgement: nothing to commit
    }

    @Override
    public void ack(Object ackHandle) {
        Fetched h = (Fetched) ackHandle;
        settle(h);
        publish(h.replyTo, ACK);
    }

    @Override
    public void deadLettered(Object ackHandle) {
        Fetched h = (Fetched) ackHandle;
        settle(h);
        publish(h.replyTo, TERM);
    }

    @Override
    public void release(Object ackHandle) {
        Fetched h = (Fetched) ackHandle;
        settle(h);
        toRelease.add(h);
    }

    /** The engine is done with {@code h}: it leaves the partition's counts and the held list. */
    private void settle(Fetched h) {
        JetStreamPartition p = parts[h.partition];
        boolean current = p.owned && h.epoch == p.epoch;
        if (h.parked) {
            h.parked = false; // its hand-off failed and the engine retried it in memory
            if (current) {
                p.parked.remove(h.seq);
            }
        } else if (current && p.inEngine > 0) {
            p.inEngine--;
        }
        progress.finished(h);
    }

    @Override
    public CompletableFuture<Void> redeliverLater(Redelivery r) {
        Fetched h = (Fetched) r.ackHandle();
        JetStreamPartition p = parts[h.partition];
        if (!p.owned || h.epoch != p.epoch) {
            return CompletableFuture.failedFuture(new TransientTransportException("partition " + p.index
                    + " of topic " + spec.topic() + " is no longer this member's"));
        }
        int cap = group.maxDelayedPerPartition();
        if (p.parked.size() >= cap) {
            // Each one counts against the partition's MaxAckPending until redelivered; beyond the headroom the
            // server would stop sending the partition's other keys.
            return CompletableFuture.failedFuture(new TransientTransportException(p.parked.size()
                    + " messages of partition " + p.index + " of topic " + spec.topic() + " already wait for a delayed "
                    + "redelivery, as many as MaxAckPending (" + group.maxAckPending() + ") leaves beyond the in-flight "
                    + "bound; this retry waits in memory"));
        }
        p.parked.put(h.seq, r.attemptsMade() + 1);
        h.parked = true;
        if (p.inEngine > 0) {
            p.inEngine--;
        }
        byte[] body = ("-NAK {\"delay\":" + Math.max(0, r.delayNanos()) + "}").getBytes(StandardCharsets.US_ASCII);
        try {
            return nc.requestWithTimeout(h.replyTo, body, settings.publishAckTimeout).thenAccept(reply -> {
                h.handedOff = true; // unlinked by the poll thread's next progress sweep
            });
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    @Override
    public Map<Integer, Long> lag() {
        Map<Integer, Long> lag = new HashMap<>();
        for (JetStreamPartition p : parts) {
            if (p.owned && p.lastPending >= 0) {
                lag.put(p.index, p.lastPending);
            }
        }
        return lag;
    }

    /** Sends -NAK for released messages, in stream order per partition, so they come back in order. */
    private void flushReleases() {
        if (!toRelease.isEmpty()) {
            sendReleases(false);
        }
    }

    /**
     * Sends -NAK for released messages, in stream order per partition, so the server queues them for redelivery in
     * that order. With {@code confirm}, sends each as a request: the server processes acks asynchronously, and a
     * partition's lease is given up only once its naks are confirmed, so the next owner cannot fetch later messages
     * of a key before the released ones.
     *
     * @return with {@code confirm}, per partition the confirmation of its naks (null where it had none)
     */
    @SuppressWarnings("unchecked")
    private CompletableFuture<Void>[] sendReleases(boolean confirm) {
        CompletableFuture<Void>[] byPartition = new CompletableFuture[parts.length];
        if (toRelease.isEmpty()) {
            return byPartition;
        }
        toRelease.sort(Comparator.<Fetched>comparingInt(h -> h.partition).thenComparingLong(h -> h.seq));
        if (!confirm) {
            for (Fetched h : toRelease) {
                publish(h.replyTo, NAK);
            }
            toRelease.clear();
            return byPartition;
        }
        List<CompletableFuture<?>> replies = new ArrayList<>();
        for (int i = 0; i < toRelease.size(); i++) {
            Fetched h = toRelease.get(i);
            CompletableFuture<?> reply;
            try {
                reply = nc.requestWithTimeout(h.replyTo, NAK, settings.publishAckTimeout);
            } catch (RuntimeException e) {
                reply = CompletableFuture.failedFuture(e);
            }
            replies.add(reply);
            if (i == toRelease.size() - 1 || toRelease.get(i + 1).partition != h.partition) {
                byPartition[h.partition] = CompletableFuture.allOf(replies.toArray(CompletableFuture[]::new));
                replies.clear();
            }
        }
        toRelease.clear();
        return byPartition;
    }

    private void publish(String subject, byte[] body) {
        try {
            nc.publish(subject, body);
        } catch (IllegalStateException e) {
            // Closed connection: the server redelivers after the ack wait, as for a crashed member.
            log.debug("Could not send {} to {}: {}", new String(body, StandardCharsets.US_ASCII), subject,
                    e.getMessage());
        }
    }

    /**
     * Leaves the group: waits (at most the pull expiry plus a grace) for outstanding pulls to end so no message is
     * left in flight towards a closed inbox, hands back everything not acknowledged, in stream order, then gives up
     * the leases (deleted once the server confirmed the naks, marked unconfirmed otherwise) and the heartbeat.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        waiter.enter();
        long deadline = System.nanoTime() + pullExpiryNanos + pullGraceNanos;
        boolean interrupted = false;
        drainInbound(System.nanoTime());
        while (pulls.outstanding() > 0 && System.nanoTime() - deadline < 0
                && nc.getStatus() == Connection.Status.CONNECTED) {
            try {
                waiter.await(System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(20), hasInbound);
            } catch (InterruptedException e) {
                interrupted = true; // finish handing messages back first; the interrupt is restored below
            }
            drainInbound(System.nanoTime());
        }
        for (Fetched f : buffered) {
            toRelease.add(f);
        }
        buffered.clear();
        bufferedBytes = 0;
        progress.collectUnfinished(toRelease);
        boolean connected = nc.getStatus() == Connection.Status.CONNECTED;
        CompletableFuture<Void> releases;
        if (connected) {
            List<CompletableFuture<Void>> all = new ArrayList<>();
            for (CompletableFuture<Void> c : sendReleases(true)) {
                if (c != null) {
                    all.add(c);
                }
            }
            releases = CompletableFuture.allOf(all.toArray(CompletableFuture[]::new));
        } else {
            sendReleases(false);
            releases = CompletableFuture.failedFuture(new IllegalStateException("not connected"));
        }
        for (JetStreamPartition p : parts) {
            p.owned = false;
        }
        group.leave(releases);
        try {
            nc.closeDispatcher(dispatcher);
        } catch (RuntimeException e) {
            // connection already closed
        }
        try {
            nc.flush(Duration.ofSeconds(2));
        } catch (Exception e) {
            // unsent naks: the server redelivers after the ack wait
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * A reply to a pull request, decoded on the dispatcher thread; once delivered, also the ack handle the engine
     * holds, linked into the list of held messages (one object per message).
     */
    static final class Fetched {
        Message message;
        int partition;
        long request;
        int status;
        String statusText;
        String replyTo;
        int delivered = 1;
        long seq;
        long pending = -1;
        int size;
        int epoch;
        /** When the server's ack wait last started over (arrival or the last +WPI). */
        long heldSince;
        /** Handed to the server for a delayed redelivery (set on the poll thread when asked). */
        boolean parked;
        /** The server confirmed the delayed redelivery; set on a jnats thread. */
        volatile boolean handedOff;
        /** Finished by the engine during a callback; unlinked later. */
        volatile boolean done;
        Fetched prev;
        Fetched next;

        static Fetched status(int partition, long request, int code, String text) {
            Fetched f = new Fetched();
            f.partition = partition;
            f.request = request;
            f.status = code;
            f.statusText = text;
            return f;
        }
    }
}
