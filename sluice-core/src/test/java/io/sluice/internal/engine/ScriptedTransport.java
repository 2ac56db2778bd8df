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

import java.util.ArrayDeque;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.IntStream;

/**
 * A transport driven by the test: records are offered to a queue, and every call the engine makes on the consumer is
 * recorded. Per-message-ack by default; {@link #offsets(int)} makes an offset-committing one with several partitions,
 * whose commits are checked against what the test's handler finished. Sluice's own SPI as a test seam, not a
 * stand-in for any broker client.
 */
final class ScriptedTransport implements Transport {
    record Inbound(Message message, int partition, long offset, int deliveryAttempt) {
        Inbound(Message message, long offset, int deliveryAttempt) {
            this(message, 0, offset, deliveryAttempt);
        }
    }

    /** One commit the engine sent: its offsets, whether synchronous, and whether the transport made it durable. */
    record CommitCall(Map<Integer, Long> offsets, boolean sync, boolean stored) {
    }

    /** A background commit sent while {@link #commitsAnsweredLater}, waiting for the test to {@link #answer} it. */
    record LaterCommit(Map<Integer, Long> offsets, CompletableFuture<Void> answer) {
    }

    final LinkedBlockingQueue<Inbound> inbound = new LinkedBlockingQueue<>();
    final List<Long> acked = new CopyOnWriteArrayList<>();
    final List<Long> deadLettered = new CopyOnWriteArrayList<>();
    final List<Long> released = new CopyOnWriteArrayList<>();
    final List<Redelivery> handedOff = new CopyOnWriteArrayList<>();
    final List<Message> published = new CopyOnWriteArrayList<>();
    /** Records handed to the engine, as "partition:offset", in order. */
    final List<String> delivered = new CopyOnWriteArrayList<>();
    /** pausePartitions / resumePartitions calls, as "pause 0" / "resume 0", in order. */
    final List<String> pauseEvents = new CopyOnWriteArrayList<>();
    final List<CommitCall> commits = new CopyOnWriteArrayList<>();
    /** The durable committed position (next offset) per partition. */
    final Map<Integer, Long> committed = new ConcurrentHashMap<>();
    /** Commits that passed a message the handler had not finished (acks of one, on a per-message transport). */
    final List<String> violations = new CopyOnWriteArrayList<>();
    /** Background commits to lose before they start to be stored. */
    final AtomicInteger asyncCommitFailures = new AtomicInteger();
    volatile boolean failHandOff;
    /**
     * When set, background commits are not answered on the owner thread while it sends them (as the log's are, on
     * its commit thread; or Kafka's, in a later poll): each waits in {@link #laterCommits}, in the order sent, until
     * the test answers it from its own thread with {@link #answer}, in any order. Their {@link #commits} entries say
     * stored = false; what was stored is in {@link #committed}.
     */
    volatile boolean commitsAnsweredLater;
    final List<LaterCommit> laterCommits = new CopyOnWriteArrayList<>();
    /** Polls the engine made: one per turn of its owner loop, to count turns instead of waiting for time. */
    final AtomicInteger polls = new AtomicInteger();
    /** Thrown by the consumer's close, if set. */
    volatile Error closeError;
    /** Set to have the next poll revoke partition 0; the time the revocation took is then in revokeNanos. */
    volatile boolean revokeNext;
    volatile long revokeNanos = -1;
    /** Set to have the next poll report partition 0 lost (as after a missed heartbeat) and assign it again at once. */
    volatile boolean loseAndReassignNext;
    volatile java.time.Duration maxRevokeTime;
    /** Publishes to fail (not transiently) before they start to succeed. */
    final AtomicInteger publishFailures = new AtomicInteger();
    private final boolean nativeDelay;
    private final Acknowledgement acknowledgement;
    private final boolean cheapCommits;
    private final int partitions;
    private final AtomicLong[] nextOffset;
    private final Map<String, Inbound> offered = new ConcurrentHashMap<>();
    private final Set<String> finished = ConcurrentHashMap.newKeySet();

    ScriptedTransport(boolean nativeDelay) {
        this(nativeDelay, Acknowledgement.PER_MESSAGE, false, 1);
    }

    private ScriptedTransport(boolean nativeDelay, Acknowledgement acknowledgement, boolean cheapCommits,
                              int partitions) {
        this.nativeDelay = nativeDelay;
        this.acknowledgement = acknowledgement;
        this.cheapCommits = cheapCommits;
        this.partitions = partitions;
        this.nextOffset = IntStream.range(0, partitions).mapToObj(i -> new AtomicLong()).toArray(AtomicLong[]::new);
    }

    /** An offset-committing transport with {@code partitions} partitions, all assigned to the one member. */
    static ScriptedTransport offsets(int partitions) {
        return new ScriptedTransport(false, Acknowledgement.OFFSETS, false, partitions);
    }

    /** As {@link #offsets(int)}, declaring its commits cheap. */
    static ScriptedTransport cheapOffsets(int partitions) {
        return new ScriptedTransport(false, Acknowledgement.OFFSETS, true, partitions);
    }

    long offer(Message m) {
        return offer(0, m);
    }

    long offer(int partition, Message m) {
        if (m.id() == null) {
            m = m.withDefaults(System.currentTimeMillis()); // as a publisher would stamp it
        }
        long offset = nextOffset[partition].getAndIncrement();
        Inbound r = new Inbound(m, partition, offset, 1);
        offered.put(m.id(), r);
        inbound.add(r);
        return offset;
    }

    /** The test's handler calls this when it is done with {@code m}: commits may pass it from then on. */
    void finished(Message m) {
        Inbound r = offered.get(m.id());
        finished.add(r.partition + ":" + r.offset);
    }

    /**
     * Answers the {@code index}th background commit sent while {@link #commitsAnsweredLater}, on the calling thread:
     * stores it and confirms it, or fails it as a lost commit.
     */
    void answer(int index, boolean stored) {
        LaterCommit c = laterCommits.get(index);
        if (stored) {
            store(c.offsets);
            c.answer.complete(null);
        } else {
            c.answer.completeExceptionally(new IllegalStateException("commit lost: coordinator moved"));
        }
    }

    long committed(int partition) {
        return committed.getOrDefault(partition, -1L);
    }

    private synchronized void store(Map<Integer, Long> offsets) {
        offsets.forEach((p, next) -> {
            for (long o = 0; o < next; o++) {
                if (!finished.contains(p + ":" + o)) {
                    violations.add("commit of partition " + p + " at " + next + " passed unfinished offset " + o);
                    break;
                }
            }
            committed.merge(p, next, Math::max);
        });
    }

    @Override
    public String name() {
        return "scripted";
    }

    @Override
    public TransportCapabilities capabilities() {
        return new TransportCapabilities(true, true, true, acknowledgement, nativeDelay, false, false, -1,
                cheapCommits);
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
            // Poll-thread state: paused partitions and the records held back for them, in offset order.
            private final Set<Integer> paused = new HashSet<>();
            private final Map<Integer, ArrayDeque<Inbound>> held = new HashMap<>();

            @Override
            public void poll(int maxRecords, long maxBytes, boolean oversizedFirst, long timeoutNanos, RecordSink sink)
                    throws InterruptedException {
                polls.incrementAndGet();
                if (!assigned) {
                    assigned = true;
                    listener.assigned(IntStream.range(0, partitions).boxed().toList());
                }
                if (revokeNext) {
                    revokeNext = false;
                    long t0 = System.nanoTime();
                    listener.revoked(List.of(0));
                    revokeNanos = System.nanoTime() - t0;
                }
                if (loseAndReassignNext) {
                    loseAndReassignNext = false;
                    listener.lost(List.of(0));
                    listener.assigned(List.of(0));
                }
                if (maxRecords == 0) {
                    return;
                }
                int delivered = 0;
                for (Map.Entry<Integer, ArrayDeque<Inbound>> e : held.entrySet()) {
                    while (!paused.contains(e.getKey()) && !e.getValue().isEmpty() && delivered < maxRecords) {
                        deliver(e.getValue().poll(), sink);
                        delivered++;
                    }
                }
                long deadline = System.nanoTime() + timeoutNanos;
                while (delivered < maxRecords) {
                    Inbound r = delivered == 0 ? inbound.poll(Math.max(0, deadline - System.nanoTime()),
                            TimeUnit.NANOSECONDS) : inbound.poll();
                    if (r == null || r.message == null) {
                        return;
                    }
                    ArrayDeque<Inbound> waiting = held.get(r.partition);
                    if (paused.contains(r.partition) || (waiting != null && !waiting.isEmpty())) {
                        held.computeIfAbsent(r.partition, p -> new ArrayDeque<>()).add(r);
                        continue;
                    }
                    deliver(r, sink);
                    delivered++;
                }
            }

            private void deliver(Inbound r, RecordSink sink) {
                delivered.add(r.partition + ":" + r.offset);
                sink.accept(r.message, r.partition, r.offset, r.message.estimatedSize(), r.deliveryAttempt, r.offset);
            }

            @Override
            public void pausePartitions(Collection<Integer> ps) {
                for (int p : ps) {
                    pauseEvents.add("pause " + p);
                    paused.add(p);
                }
            }

            @Override
            public void resumePartitions(Collection<Integer> ps) {
                for (int p : ps) {
                    pauseEvents.add("resume " + p);
                    paused.remove(p);
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
                if (acknowledgement != Acknowledgement.OFFSETS) {
                    throw new AssertionError("a per-message transport is never asked to commit offsets");
                }
                // A background commit that fails is lost silently: that is all the old SPI could say.
                boolean stored = sync || asyncCommitFailures.getAndUpdate(n -> Math.max(0, n - 1)) == 0;
                commits.add(new CommitCall(Map.copyOf(nextOffsets), sync, stored));
                if (stored) {
                    store(nextOffsets);
                }
            }

            @Override
            public CompletableFuture<Void> commitInBackground(Map<Integer, Long> nextOffsets) {
                if (acknowledgement != Acknowledgement.OFFSETS) {
                    throw new AssertionError("a per-message transport is never asked to commit offsets");
                }
                if (commitsAnsweredLater) {
                    commits.add(new CommitCall(Map.copyOf(nextOffsets), false, false));
                    CompletableFuture<Void> answer = new CompletableFuture<>();
                    laterCommits.add(new LaterCommit(Map.copyOf(nextOffsets), answer));
                    return answer;
                }
                boolean stored = asyncCommitFailures.getAndUpdate(n -> Math.max(0, n - 1)) == 0;
                commits.add(new CommitCall(Map.copyOf(nextOffsets), false, stored));
                if (!stored) {
                    return CompletableFuture.failedFuture(new IllegalStateException("commit lost: coordinator moved"));
                }
                store(nextOffsets);
                return CompletableFuture.completedFuture(null);
            }

            @Override
            public void ack(Object ackHandle) {
                if (!finished.contains("0:" + ackHandle)) {
                    violations.add("ack of offset " + ackHandle + " before its handler finished");
                }
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
                inbound.add(new Inbound(r.message(), r.partition(), r.offset(), r.attemptsMade() + 1));
                return CompletableFuture.completedFuture(null);
            }

            @Override
            public void close() {
                if (closeError != null) {
                    throw closeError;
                }
            }
        };
    }

    @Override
    public void close() {
    }
}
