package io.sluice.kafka;

import io.sluice.spi.ConsumerSpec;
import io.sluice.spi.PartitionListener;
import io.sluice.spi.RecordSink;
import io.sluice.spi.Transport;
import io.sluice.spi.TransportCapabilities;
import io.sluice.spi.TransportConsumer;
import io.sluice.spi.TransportProducer;

import java.util.Collection;
import java.util.HashMap;
import java.util.Map;
import java.util.OptionalLong;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A transport that passes everything through to a real one and measures, whenever a member gives partitions up
 * (revoke or close), how many records it had been handed on them beyond its last commit: the most that the next
 * owner can see again. Test helper; each consumer's bookkeeping is owned by that consumer's poll thread.
 */
final class RecordingTransport implements Transport {
    private final Transport delegate;
    final AtomicLong uncommittedAtRelease = new AtomicLong();
    final AtomicInteger revocations = new AtomicInteger();
    /** Records handed over and not committed on partitions when their revocation began (before the drain). */
    final AtomicLong inFlightAtRevoke = new AtomicLong();

    RecordingTransport(Transport delegate) {
        this.delegate = delegate;
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
        Member member = new Member();
        member.listener = listener;
        member.consumer = delegate.consumer(spec, member);
        return member;
    }

    @Override
    public void close() {
        delegate.close();
    }

    private final class Member implements TransportConsumer, PartitionListener {
        TransportConsumer consumer;
        PartitionListener listener;
        /** Per partition: offset after the last record handed over, and the last committed next offset. */
        final Map<Integer, long[]> positions = new HashMap<>();

        @Override
        public void poll(int maxRecords, long maxBytes, boolean oversizedFirst, long timeoutNanos, RecordSink sink)
                throws InterruptedException {
            consumer.poll(maxRecords, maxBytes, oversizedFirst, timeoutNanos, (m, p, offset, size, attempt, h) -> {
                long[] pos = positions.computeIfAbsent(p, k -> new long[]{offset, offset});
                pos[0] = Math.max(pos[0], offset + 1);
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
                long[] pos = positions.get(p);
                if (pos != null) {
                    pos[1] = Math.max(pos[1], o);
                }
            });
        }

        @Override
        public Map<Integer, Long> lag() {
            return consumer.lag();
        }

        @Override
        public void close() {
            release(positions.keySet());
            consumer.close();
        }

        @Override
        public void assigned(Collection<Integer> partitions) {
            for (int p : partitions) {
                positions.remove(p);
            }
            listener.assigned(partitions);
        }

        @Override
        public void revoked(Collection<Integer> partitions) {
            revocations.incrementAndGet();
            for (int p : partitions) {
                long[] pos = positions.get(p);
                if (pos != null) {
                    inFlightAtRevoke.addAndGet(Math.max(0, pos[0] - pos[1]));
                }
            }
            listener.revoked(partitions); // the engine drains and commits through commit(sync = true)
            release(partitions);
        }

        @Override
        public void lost(Collection<Integer> partitions) {
            listener.lost(partitions);
            release(partitions);
        }

        private void release(Collection<Integer> partitions) {
            for (int p : java.util.List.copyOf(partitions)) {
                long[] pos = positions.remove(p);
                if (pos != null) {
                    uncommittedAtRelease.addAndGet(Math.max(0, pos[0] - pos[1]));
                }
            }
        }
    }
}
