package io.sluice.kafka;

import io.sluice.Message;
import io.sluice.spi.ConsumerSpec;
import io.sluice.spi.PartitionListener;
import io.sluice.spi.RecordSink;
import io.sluice.spi.Transport;
import io.sluice.spi.TransportCapabilities;
import io.sluice.spi.TransportConsumer;
import io.sluice.spi.TransportProducer;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A transport that passes everything through to a real one and watches each member from outside the commit path:
 * which records it was handed, which of them its handler finished (the handler calls {@link #finished}), what the
 * engine committed, and what it gave up on revoke, loss or close. Test helper; each member's bookkeeping is owned by
 * that member's poll thread, the shared results are thread-safe.
 *
 * <p>At each release it computes, from hand-overs and handler completions alone, the offset the engine should have
 * committed: the first handed record its handler did not finish. Records at or above it are "exposed": the only
 * ones the next owner may legitimately see again.
 */
final class RecordingTransport implements Transport {
    private final Transport delegate;
    private final AtomicLong clock = new AtomicLong();
    /** Per message id, the clock when a handler last finished it. */
    private final Map<String, Long> finishedAt = new ConcurrentHashMap<>();

    final AtomicLong polls = new AtomicLong();
    final AtomicInteger revocations = new AtomicInteger();
    final AtomicInteger losses = new AtomicInteger();
    /** Records handed over at or above the first one their handler had not finished when their partitions were given up. */
    final AtomicLong exposedAtRelease = new AtomicLong();
    /** Ids of records handed over at or above the first unfinished one of a released partition. */
    final Set<String> exposed = ConcurrentHashMap.newKeySet();
    /** Releases whose commit did not end exactly at the first unfinished record, described. */
    final List<String> commitMismatches = new CopyOnWriteArrayList<>();
    /** Records handed to a member for a partition it did not own at that moment, described. */
    final List<String> handedWithoutOwnership = new CopyOnWriteArrayList<>();

    /** Runs on the member's poll thread when its partitions are revoked, before the engine drains them. */
    volatile Runnable onRevoke = () -> { };
    /** Runs on a member's poll thread before each poll. */
    volatile Runnable beforePoll = () -> { };

    RecordingTransport(Transport delegate) {
        this.delegate = delegate;
    }

    /** Called by the test's handler when it has handled {@code m}, before it returns. */
    void finished(Message m) {
        finishedAt.put(m.id(), clock.incrementAndGet());
    }

    @Override
    public String name() {
        return delegate.name();
    }

    @Override
    public TransportCapabilities capabilities() {
        return delegate.capabilities();
    }

    @Override
    public TransportProducer producer() {
        return delegate.producer();
    }

    @Override
    public OptionalLong committedOffset(String topic, String group, int partition) {
        return delegate.committedOffset(topic, group, partition);
    }

    @Override
    public TransportConsumer consumer(ConsumerSpec spec, PartitionListener listener) {
        Member member = new Member(spec.memberId());
        member.listener = listener;
        member.consumer = delegate.consumer(spec, member);
        return member;
    }

    @Override
    public void close() {
        delegate.close();
    }

    /** What one member was handed on one partition in its current assignment. */
    private static final class Handed {
        /** offset -> {message id, clock at hand-over} */
        final TreeMap<Long, Object[]> records = new TreeMap<>();
        long committed = -1;
    }

    private final class Member implements TransportConsumer, PartitionListener {
        private final String name;
        TransportConsumer consumer;
        PartitionListener listener;
        final Set<Integer> owned = new HashSet<>();
        final Map<Integer, Handed> handed = new HashMap<>();

        Member(String name) {
            this.name = name;
        }

        @Override
        public void poll(int maxRecords, long maxBytes, boolean oversizedFirst, long timeoutNanos, RecordSink sink)
                throws InterruptedException {
            polls.incrementAndGet();
            beforePoll.run();
            consumer.poll(maxRecords, maxBytes, oversizedFirst, timeoutNanos, (m, p, offset, size, attempt, h) -> {
                if (!owned.contains(p)) {
                    handedWithoutOwnership.add(name + " was handed " + m.id() + " (partition " + p + " offset "
                            + offset + ") while owning " + owned);
                }
                handed.computeIfAbsent(p, k -> new Handed()).records.put(offset,
                        new Object[]{m.id(), clock.incrementAndGet()});
                sink.accept(m, p, offset, size, attempt, h);
            });
        }

        @Override
        public void wakeup() {
            consumer.wakeup();
        }

        @Override
        public void commit(Map<Integer, Long> nextOffsets, boolean sync) {
            consumer.commit(nextOffsets, sync);
            nextOffsets.forEach((p, o) -> {
                Handed h = handed.get(p);
                if (h != null) {
                    h.committed = Math.max(h.committed, o);
                }
            });
        }

        @Override
        public Map<Integer, Long> lag() {
            return consumer.lag();
        }

        @Override
        public void close() {
            release(List.copyOf(handed.keySet()), true);
            consumer.close();
        }

        @Override
        public void assigned(Collection<Integer> partitions) {
            owned.addAll(partitions);
            for (int p : partitions) {
                handed.remove(p);
            }
            listener.assigned(partitions);
        }

        @Override
        public void revoked(Collection<Integer> partitions) {
            revocations.incrementAndGet();
            onRevoke.run();
            listener.revoked(partitions); // the engine drains and commits through commit(sync = true)
            release(partitions, true);
            owned.removeAll(partitions);
        }

        @Override
        public void lost(Collection<Integer> partitions) {
            losses.incrementAndGet();
            listener.lost(partitions);
            release(partitions, false);
            owned.removeAll(partitions);
        }

        /** Compares what the engine committed with the first record its handler did not finish. */
        private void release(Collection<Integer> partitions, boolean committedOnRelease) {
            for (int p : new ArrayList<>(partitions)) {
                Handed h = handed.remove(p);
                if (h == null || h.records.isEmpty()) {
                    continue;
                }
                long end = h.records.lastKey() + 1;
                long firstUnfinished = end;
                for (Map.Entry<Long, Object[]> e : h.records.entrySet()) {
                    Long finished = finishedAt.get((String) e.getValue()[0]);
                    if (finished == null || finished < (Long) e.getValue()[1]) {
                        firstUnfinished = e.getKey();
                        break;
                    }
                }
                long exposedHere = 0;
                for (Map.Entry<Long, Object[]> e : h.records.tailMap(firstUnfinished, true).entrySet()) {
                    exposed.add((String) e.getValue()[0]);
                    exposedHere++;
                }
                exposedAtRelease.addAndGet(exposedHere);
                long committed = h.committed >= 0 ? h.committed : h.records.firstKey();
                if (committedOnRelease && committed != firstUnfinished) {
                    commitMismatches.add(name + " partition " + p + ": handed " + h.records.firstKey() + ".." + (end - 1)
                            + ", first unfinished " + firstUnfinished + ", committed " + committed);
                }
            }
        }
    }
}
