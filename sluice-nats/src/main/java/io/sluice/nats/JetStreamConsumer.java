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
import java.util.concurrent.locks.LockSupport;

/**
 * One group member on a JetStream topic. Each partition has a durable pull consumer per group ({@code <group>__p<n>})
 * and belongs to one member at a time through a lease ({@link GroupMembership}).
 *
 * <p>Fetching. The member sends pull requests ({@code $JS.API.CONSUMER.MSG.NEXT}) itself, at most one outstanding
 * per owned partition, each for at most the room the engine has left minus what is already buffered or requested,
 * so fetched-but-unfinished messages never exceed the engine's in-flight bound and the durable consumer's
 * {@code MaxAckPending} follows it. Replies arrive on a private inbox ({@code <inbox>.<partition>.<request>}) through
 * a jnats dispatcher, which decodes them into a lock-free queue that the poll thread drains.
 *
 * <p>Outcomes. {@link #ack} sends {@code +ACK}, {@link #deadLettered} {@code +TERM}, {@link #redeliverLater}
 * {@code -NAK} with a delay (confirmed by the server's reply). Messages the engine holds longer than a third of
 * the ack wait (a long in-memory retry, a slow handler) get {@code +WPI} (in progress) from the poll thread, so the
 * server does not redeliver them behind the engine's back. Released messages (shutdown, rebalance) are
 * {@code -NAK}ed in stream order after outstanding pulls have ended, so the next owner gets them back in order.
 *
 * <p>Not thread-safe: owned by the subscription's poll thread, except {@link #wakeup()} (any thread) and the
 * dispatcher and watcher callbacks, which only touch the inbound queue and volatile flags.
 */
final class JetStreamConsumer implements TransportConsumer {
    private static final Logger log = LoggerFactory.getLogger(JetStreamConsumer.class);
    private static final byte[] ACK = "+ACK".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] NAK = "-NAK".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] TERM = "+TERM".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] IN_PROGRESS = "+WPI".getBytes(StandardCharsets.US_ASCII);

    private final Connection nc;
    private final NatsSettings settings;
    private final StreamRegistry streams;
    private final StreamRegistry.TopicStream ts;
    private final ConsumerSpec spec;
    private final PartitionListener listener;
    private final GroupMembership membership;
    private final Dispatcher dispatcher;
    private final String inbox;
    private final PartitionState[] parts;
    private final ConcurrentLinkedQueue<Fetched> inbound = new ConcurrentLinkedQueue<>();
    private final long heartbeatNanos;
    private final long progressNanos;
    private final long pullExpiryNanos;
    private final long pullGraceNanos;
    private final int topicPrefixLength;
    private static final long CURRENT_REQUEST = -1;
    /** Leases are rewritten this often; the group bucket expires entries a day after their last write. */
    private static final long LEASE_REFRESH_NANOS = TimeUnit.HOURS.toNanos(1);

    // Poll-thread state.
    private final ArrayDeque<Fetched> buffered = new ArrayDeque<>();
    private final Fetched held = new Fetched(); // sentinel of the list of messages the engine holds
    private final List<Fetched> toRelease = new ArrayList<>();
    private final Map<Long, Integer> nextAttempt = new HashMap<>();
    private int outstandingTotal;
    private int inFlightBound;
    private long nextHeartbeat;
    private long nextProgress;
    private long nextLeaseRefresh;
    private boolean rebalanceDue = true;
    private int revoking;
    private int rotate;
    private boolean closed;

    // Shared with the dispatcher and watcher threads.
    private volatile Thread pollThread;
    private volatile boolean waiting;
    private volatile boolean wakeupRequested;

    JetStreamConsumer(NatsTransport transport, ConsumerSpec spec, PartitionListener listener) {
        this.nc = transport.connection();
        this.settings = transport.settings();
        this.streams = transport.streams();
        this.spec = spec;
        this.listener = listener;
        this.ts = streams.stream(spec.topic());
        this.heartbeatNanos = settings.heartbeatInterval.toNanos();
        this.progressNanos = settings.ackWait.toNanos() / 3;
        this.pullExpiryNanos = settings.pullExpiry.toNanos();
        this.pullGraceNanos = Math.max(TimeUnit.SECONDS.toNanos(1), pullExpiryNanos);
        held.prev = held;
        held.next = held;
        this.topicPrefixLength = spec.topic().length() + 1;
        this.parts = new PartitionState[ts.partitions()];
        for (int p = 0; p < parts.length; p++) {
            parts[p] = new PartitionState(p, "$JS.API.CONSUMER.MSG.NEXT." + ts.stream() + "."
                    + Names.durable(spec.group(), p));
        }
        String memberId = Names.escape(spec.memberId()) + "-" + UUID.randomUUID().toString().substring(0, 8);
        this.inbox = "_INBOX.sluice." + UUID.randomUUID().toString().replace("-", "");
        this.dispatcher = nc.createDispatcher(this::onMessage);
        dispatcher.subscribe(inbox + ".>");
        this.membership = new GroupMembership(transport.groupBucket(), spec.topic(), spec.group(), memberId,
                parts.length, settings.sessionTimeout.toMillis(), this::wakeForRebalance);
        try {
            membership.join();
        } catch (IOException | JetStreamApiException e) {
            nc.closeDispatcher(dispatcher);
            throw new TransientTransportException("could not join group " + spec.group() + " on topic "
                    + spec.topic() + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            nc.closeDispatcher(dispatcher);
            throw new SluiceException("interrupted while joining group " + spec.group(), e);
        }
        long now = System.nanoTime();
        nextHeartbeat = now + heartbeatNanos;
        nextProgress = now + progressNanos / 2;
        nextLeaseRefresh = now + LEASE_REFRESH_NANOS;
        log.debug("Member {} joined group {} on topic {} (stream {})", memberId, spec.group(), spec.topic(),
                ts.stream());
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
            int partition = parseInt(subject, inbox.length() + 1, dot);
            long request = parseLong(subject, dot + 1, subject.length());
            int code = msg.getStatus().getCode();
            if (partition >= 0 && partition < parts.length && code != 100) {
                // 100 is an idle heartbeat; 404, 408 and 409 end the pull request
                inbound.add(Fetched.status(partition, request, code, msg.getStatus().getMessage()));
                signal();
            }
            return;
        }
        // Messages keep their stream subject, <topic>.<partition>; they answer the partition's current request.
        int partition = parseInt(subject, topicPrefixLength, subject.length());
        long request = CURRENT_REQUEST;
        if (partition < 0 || partition >= parts.length) {
            return;
        }
        String reply = msg.getReplyTo();
        if (reply == null) {
            return;
        }
        Fetched f = new Fetched();
        f.partition = partition;
        f.request = request;
        f.replyTo = reply;
        parseAckSubject(reply, f);
        try {
            f.message = NatsWire.decode(msg);
        } catch (RuntimeException e) {
            // Not a Sluice message we can read: hand it on as raw bytes so the engine can dead-letter it.
            f.message = Message.builder().payload(msg.getData() == null ? new byte[0] : msg.getData()).build();
        }
        f.size = f.message.estimatedSize();
        inbound.add(f);
        signal();
    }

    private void signal() {
        if (waiting) {
            Thread t = pollThread;
            if (t != null) {
                LockSupport.unpark(t);
            }
        }
    }

    private void wakeForRebalance() {
        Thread t = pollThread;
        if (t != null) {
            LockSupport.unpark(t);
        }
    }

    /**
     * Reads delivery count, stream sequence and pending count from a JetStream ack subject:
     * {@code $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>}, or the longer form with a
     * domain and account hash before the stream.
     */
    static void parseAckSubject(String s, Fetched f) {
        int tokens = 1;
        for (int i = 0; i < s.length(); i++) {
            if (s.charAt(i) == '.') {
                tokens++;
            }
        }
        int first = tokens >= 11 ? 6 : 4; // index of the delivered-count token
        int start = 0;
        int token = 0;
        for (int i = 0; i <= s.length(); i++) {
            if (i == s.length() || s.charAt(i) == '.') {
                if (token == first) {
                    f.delivered = (int) Math.min(Integer.MAX_VALUE, parseLong(s, start, i));
                } else if (token == first + 1) {
                    f.seq = parseLong(s, start, i);
                } else if (token == first + 4) {
                    f.pending = parseLong(s, start, i);
                    return;
                }
                token++;
                start = i + 1;
            }
        }
    }

    private static long parseLong(String s, int from, int to) {
        if (from < 0 || to <= from) {
            return -1;
        }
        long v = 0;
        for (int i = from; i < to; i++) {
            char c = s.charAt(i);
            if (c < '0' || c > '9') {
                return -1;
            }
            v = v * 10 + (c - '0');
        }
        return v;
    }

    private static int parseInt(String s, int from, int to) {
        return (int) Math.min(Integer.MAX_VALUE, parseLong(s, from, to));
    }

    // ------------------------------------------------------------------ poll thread

    @Override
    public void poll(int maxRecords, long maxBytes, boolean oversizedFirst, long timeoutNanos, RecordSink sink)
            throws InterruptedException {
        pollThread = Thread.currentThread();
        inFlightBound = Math.max(inFlightBound, maxRecords);
        long deadline = System.nanoTime() + timeoutNanos;
        while (true) {
            long now = System.nanoTime();
            maintain(now);
            drainInbound();
            if (maxRecords == 0) {
                flushReleases();
                return;
            }
            int delivered = deliver(maxRecords, maxBytes, oversizedFirst, sink);
            requestMore(maxRecords - delivered, now);
            if (delivered > 0 || wakeupRequested) {
                wakeupRequested = false;
                return;
            }
            long remaining = deadline - System.nanoTime();
            if (remaining <= 0) {
                return;
            }
            waiting = true;
            if (inbound.isEmpty() && !wakeupRequested && !membership.hasChanged()) {
                LockSupport.parkNanos(this, Math.min(remaining, Math.max(0, nextHeartbeat - now)));
            }
            waiting = false;
            if (Thread.interrupted()) {
                throw new InterruptedException();
            }
        }
    }

    private void maintain(long now) {
        if (nc.getStatus() != Connection.Status.CONNECTED) {
            // Key-value calls would only wait for their timeout; keep serving what is buffered until reconnected.
            if (now - nextHeartbeat >= 0) {
                nextHeartbeat = now + heartbeatNanos;
                expireRequests(now);
            }
            return;
        }
        if (now - nextHeartbeat >= 0) {
            membership.heartbeat();
            nextHeartbeat = now + heartbeatNanos;
            rebalanceDue = true;
            expireRequests(now);
        }
        if (now - nextLeaseRefresh >= 0) {
            nextLeaseRefresh = now + LEASE_REFRESH_NANOS;
            refreshLeases();
        }
        if (membership.takeChanged() || rebalanceDue) {
            rebalanceDue = false;
            rebalance();
        } else {
            finishRevocations();
        }
        if (now - nextProgress >= 0) {
            sendProgress(now);
            nextProgress = now + Math.max(TimeUnit.MILLISECONDS.toNanos(100), progressNanos / 2);
        }
    }

    /** Rewrites owned leases (the bucket expires entries a day after their last write); a refused one is lost. */
    private void refreshLeases() {
        List<Integer> lost = null;
        for (PartitionState p : parts) {
            if (p.owned && !membership.refresh(p.index)) {
                (lost == null ? lost = new ArrayList<>() : lost).add(p.index);
            }
        }
        if (lost != null) {
            listener.lost(lost);
            for (int p : lost) {
                dropPartition(parts[p]);
            }
            flushReleases();
            log.warn("Member {} found partitions {} of topic {} group {} leased to another member", membership.memberId(),
                    lost, spec.topic(), spec.group());
        }
    }

    /** Pull requests whose reply never came (lost in a disconnect) stop counting after expiry plus a grace. */
    private void expireRequests(long now) {
        for (PartitionState p : parts) {
            if (p.outstanding > 0 && now - p.requestDeadline > 0) {
                endRequest(p);
            }
        }
    }

    /**
     * Brings ownership in line with the group's view: stops partitions whose lease another member took, starts
     * revoking those that should move, and takes leases of target partitions. Key-value writes happen here only, so
     * this runs on a heartbeat tick or when the watch saw a change, not on every poll.
     */
    private void rebalance() {
        boolean[] target = membership.target();
        List<Integer> lost = null;
        for (PartitionState p : parts) {
            if (!p.owned) {
                continue;
            }
            if (membership.leaseTakenByOther(p.index)) {
                (lost == null ? lost = new ArrayList<>() : lost).add(p.index);
            } else if (!target[p.index] && !p.revoking) {
                p.revoking = true; // stop pulling; let go once its outstanding pull has ended
                revoking++;
            }
        }
        if (lost != null) {
            listener.lost(lost);
            for (int p : lost) {
                dropPartition(parts[p]);
            }
            flushReleases();
            log.warn("Member {} lost partitions {} of topic {} group {} to another member", membership.memberId(),
                    lost, spec.topic(), spec.group());
        }
        finishRevocations();
        List<Integer> assigned = null;
        for (PartitionState p : parts) {
            if (target[p.index] && !p.owned) {
                String previous = membership.leaseHolder(p.index);
                boolean takeover = previous != null && !previous.equals(membership.memberId());
                if (membership.acquire(p.index) && prepare(p, takeover)) {
                    p.owned = true;
                    (assigned == null ? assigned = new ArrayList<>() : assigned).add(p.index);
                }
                // else its previous owner has not let go yet: the watch or the next heartbeat tick tries again
            }
        }
        if (assigned != null) {
            listener.assigned(assigned);
        }
    }

    /** Lets go of revoking partitions whose outstanding pull has ended: engine first, then naks, then the lease. */
    private void finishRevocations() {
        if (revoking == 0) {
            return;
        }
        List<Integer> revoked = null;
        for (PartitionState p : parts) {
            if (p.revoking && p.outstanding == 0) {
                (revoked == null ? revoked = new ArrayList<>() : revoked).add(p.index);
            }
        }
        if (revoked == null) {
            return;
        }
        listener.revoked(revoked);
        drainInbound();
        for (int p : revoked) {
            dropPartition(parts[p]);
        }
        flushReleases(true);
        for (int p : revoked) {
            membership.release(p);
        }
    }

    /**
     * Makes sure the partition's durable consumer exists with this member's settings. After taking the partition
     * over from a member that stopped without letting go, and if that member left messages unacknowledged, holds
     * pulls for one ack wait: by then the server has queued those messages for redelivery, and queued redeliveries
     * go out before newer messages, so the new owner sees a key's messages in order.
     */
    private boolean prepare(PartitionState p, boolean takeover) {
        // The engine's in-flight bound (its first poll asks for all of it); a subscription paused from the start
        // has shown no bound yet, so it gets one pull batch until the next assignment updates the consumer.
        int maxAckPending = settings.maxAckPending > 0 ? settings.maxAckPending
                : inFlightBound > 0 ? inFlightBound : settings.maxBatch;
        try {
            long unacked = streams.ensureConsumer(ts, spec.group(), p.index, spec.startFrom(), maxAckPending);
            if (takeover && unacked > 0) {
                p.holdUntil = System.nanoTime() + settings.ackWait.toNanos();
                p.held = true;
                log.info("Member {} took partition {} of topic {} group {} over from a member that stopped with {} "
                                + "unacknowledged messages; fetching starts in {} ms, after the server has queued them for "
                                + "redelivery, so keys stay in order", membership.memberId(), p.index, spec.topic(),
                        spec.group(), unacked, settings.ackWait.toMillis());
            }
            return true;
        } catch (IOException | JetStreamApiException | RuntimeException e) {
            log.warn("Could not prepare the durable consumer of partition {} of topic {} group {}: {}; letting the "
                    + "partition go for now", p.index, spec.topic(), spec.group(), e.toString());
            membership.release(p.index);
            return false;
        }
    }

    /** Forgets a partition this member no longer owns; its buffered messages are handed back. */
    private void dropPartition(PartitionState p) {
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
                toRelease.add(f);
            }
        }
    }

    private void drainInbound() {
        Fetched f;
        while ((f = inbound.poll()) != null) {
            PartitionState p = parts[f.partition];
            boolean current = (f.request == CURRENT_REQUEST || f.request == p.request) && p.outstanding > 0;
            if (f.status != 0) {
                if (current) {
                    endRequest(p);
                }
                if (f.status == 409) {
                    log.debug("Pull on partition {} of topic {} ended: {}", p.index, spec.topic(), f.statusText);
                }
                continue;
            }
            if (current) {
                p.outstanding--;
                outstandingTotal--;
            }
            if (!p.owned) {
                toRelease.add(f); // late reply for a partition let go
                continue;
            }
            buffered.add(f);
        }
    }

    private void endRequest(PartitionState p) {
        outstandingTotal -= p.outstanding;
        p.outstanding = 0;
    }

    private int deliver(int maxRecords, long maxBytes, boolean oversizedFirst, RecordSink sink) {
        int n = 0;
        long bytes = 0;
        Fetched f;
        while (n < maxRecords && (f = buffered.peek()) != null) {
            if (bytes + f.size > maxBytes && !(oversizedFirst && n == 0)) {
                break;
            }
            buffered.poll();
            PartitionState p = parts[f.partition];
            f.heldSince = System.nanoTime();
            link(f);
            int attempt = Math.max(1, f.delivered);
            if (attempt > 1 && !nextAttempt.isEmpty()) {
                Integer expected = nextAttempt.remove(key(f.partition, f.seq));
                if (expected != null) {
                    attempt = Math.max(attempt, expected);
                }
            }
            p.lastPending = f.pending;
            Message message = f.message;
            f.message = null; // the engine holds it; the handle need not
            sink.accept(message, f.partition, f.seq, f.size, attempt, f);
            n++;
            bytes += f.size;
        }
        return n;
    }

    private void requestMore(int room, long now) {
        int pipeline = buffered.size() + outstandingTotal;
        int free = room - pipeline;
        // With work still in the pipeline, wait until a quarter of the bound is free instead of sending a pull
        // request per finished message: far fewer round trips when handlers are slow and the engine is full.
        int minPull = pipeline == 0 ? 1 : Math.max(1, Math.min(settings.maxBatch, inFlightBound / 4));
        if (free < minPull) {
            return;
        }
        int idle = 0;
        for (PartitionState p : parts) {
            if (p.held && now - p.holdUntil >= 0) {
                p.held = false;
            }
            if (p.owned && !p.revoking && !p.held && p.outstanding == 0) {
                idle++;
            }
        }
        if (idle == 0) {
            return;
        }
        int share = Math.max(1, free / idle);
        int n = parts.length;
        for (int i = 0; i < n && free > 0; i++) {
            PartitionState p = parts[(rotate + i) % n];
            if (p.owned && !p.revoking && !p.held && p.outstanding == 0) {
                int batch = Math.min(Math.min(share, settings.maxBatch), free);
                pull(p, batch, now);
                free -= batch;
            }
        }
        rotate = (rotate + 1) % n;
    }

    private void pull(PartitionState p, int batch, long now) {
        long request = ++p.request;
        if (log.isTraceEnabled()) {
            log.trace("pull {} batch {} on partition {}", request, batch, p.index);
        }
        String body = "{\"batch\":" + batch + ",\"expires\":" + pullExpiryNanos + "}";
        try {
            nc.publish(p.nextSubject, inbox + "." + p.index + "." + request, body.getBytes(StandardCharsets.US_ASCII));
        } catch (IllegalStateException e) {
            return; // connection closed: nothing outstanding; the next poll tries again
        }
        p.outstanding = batch;
        outstandingTotal += batch;
        p.requestDeadline = now + pullExpiryNanos + pullGraceNanos;
    }

    /** Tells the server the engine still works on messages it holds, so their ack wait starts over. */
    private void sendProgress(long now) {
        for (Fetched h = held.next; h != held; ) {
            Fetched next = h.next;
            if (h.handedOff) {
                unlink(h);
            } else if (now - h.heldSince >= progressNanos) {
                publish(h.replyTo, IN_PROGRESS);
                h.heldSince = now;
            }
            h = next;
        }
    }

    @Override
    public void wakeup() {
        wakeupRequested = true;
        Thread t = pollThread;
        if (t != null) {
            LockSupport.unpark(t);
        }
    }

    @Override
    public void commit(Map<Integer, Long> nextOffsets, boolean sync) {
        // per-message acknowledgement: nothing to commit
    }

    @Override
    public void ack(Object ackHandle) {
        Fetched h = (Fetched) ackHandle;
        unlink(h);
        publish(h.replyTo, ACK);
    }

    @Override
    public void deadLettered(Object ackHandle) {
        Fetched h = (Fetched) ackHandle;
        unlink(h);
        publish(h.replyTo, TERM);
    }

    @Override
    public void release(Object ackHandle) {
        Fetched h = (Fetched) ackHandle;
        unlink(h);
        toRelease.add(h);
    }

    @Override
    public CompletableFuture<Void> redeliverLater(Redelivery r) {
        Fetched h = (Fetched) r.ackHandle();
        nextAttempt.put(key(h.partition, h.seq), r.attemptsMade() + 1);
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
        for (PartitionState p : parts) {
            if (p.owned && p.lastPending >= 0) {
                lag.put(p.index, p.lastPending);
            }
        }
        return lag;
    }

    /** Sends -NAK for released messages, in stream order per partition, so they come back in order. */
    private void flushReleases() {
        flushReleases(false);
    }

    /**
     * Sends -NAK for released messages, in stream order per partition, so the server queues them for redelivery in
     * that order. With {@code confirm}, sends each as a request and waits (bounded) for the server's replies: the
     * server processes acks asynchronously, and a partition is handed to another member only once its naks are in,
     * so the next owner cannot fetch later messages of a key before the released ones.
     */
    private void flushReleases(boolean confirm) {
        if (toRelease.isEmpty()) {
            return;
        }
        toRelease.sort(Comparator.<Fetched>comparingInt(h -> h.partition).thenComparingLong(h -> h.seq));
        if (!confirm) {
            for (Fetched h : toRelease) {
                publish(h.replyTo, NAK);
            }
            toRelease.clear();
            return;
        }
        CompletableFuture<?>[] replies = new CompletableFuture<?>[toRelease.size()];
        for (int i = 0; i < replies.length; i++) {
            try {
                replies[i] = nc.requestWithTimeout(toRelease.get(i).replyTo, NAK, settings.publishAckTimeout);
            } catch (RuntimeException e) {
                replies[i] = CompletableFuture.failedFuture(e);
            }
        }
        toRelease.clear();
        try {
            CompletableFuture.allOf(replies).get(settings.publishAckTimeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            log.debug("Not every release of topic {} group {} was confirmed ({}); the server redelivers those after "
                    + "the ack wait", spec.topic(), spec.group(), e.toString());
        }
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

    private static long key(int partition, long seq) {
        return ((long) partition << 48) ^ seq;
    }

    private void link(Fetched h) {
        Fetched tail = held.prev;
        h.prev = tail;
        h.next = held;
        tail.next = h;
        held.prev = h;
    }

    private void unlink(Fetched h) {
        if (h.next != null) {
            h.prev.next = h.next;
            h.next.prev = h.prev;
            h.next = null;
            h.prev = null;
        }
    }

    /**
     * Leaves the group: waits (at most the pull expiry plus a grace) for outstanding pulls to end so no message is
     * left in flight towards a closed inbox, hands back everything not acknowledged, in stream order, then releases
     * leases and the heartbeat.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        long deadline = System.nanoTime() + pullExpiryNanos + pullGraceNanos;
        pollThread = Thread.currentThread();
        drainInbound();
        while (outstandingTotal > 0 && System.nanoTime() - deadline < 0) {
            waiting = true;
            if (inbound.isEmpty()) {
                LockSupport.parkNanos(this, TimeUnit.MILLISECONDS.toNanos(20));
            }
            waiting = false;
            drainInbound();
            if (!nc.getStatus().equals(Connection.Status.CONNECTED)) {
                break;
            }
        }
        for (Fetched f : buffered) {
            toRelease.add(f);
        }
        buffered.clear();
        for (Fetched h = held.next; h != held; h = h.next) {
            if (!h.handedOff) {
                toRelease.add(h);
            }
        }
        flushReleases(nc.getStatus() == Connection.Status.CONNECTED);
        List<Integer> owned = new ArrayList<>();
        for (PartitionState p : parts) {
            if (p.owned) {
                owned.add(p.index);
                p.owned = false;
            }
        }
        membership.leave(owned);
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
    }

    /** Per-partition fetch state; poll thread only. */
    private static final class PartitionState {
        final int index;
        final String nextSubject;
        boolean owned;
        boolean revoking;
        long request;
        int outstanding;
        long requestDeadline;
        long lastPending = -1;
        /** Pulls wait until {@code holdUntil} after a takeover from a member that left messages unacknowledged. */
        boolean held;
        long holdUntil;

        PartitionState(int index, String nextSubject) {
            this.index = index;
            this.nextSubject = nextSubject;
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
        long heldSince;
        volatile boolean handedOff;
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
