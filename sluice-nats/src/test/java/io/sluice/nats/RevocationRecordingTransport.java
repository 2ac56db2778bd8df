package io.sluice.nats;

import io.sluice.spi.ConsumerSpec;
import io.sluice.spi.PartitionListener;
import io.sluice.spi.Transport;
import io.sluice.spi.TransportCapabilities;
import io.sluice.spi.TransportConsumer;
import io.sluice.spi.TransportProducer;

import java.util.Collection;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Passes everything to the NATS transport and notes, per member, when its engine's {@code revoked} callback for a
 * partition began and whether it returned: events a test can order a hand-over by instead of by pauses.
 */
final class RevocationRecordingTransport implements Transport {
    private final NatsTransport delegate;
    private final Map<String, Long> revokeStarted = new ConcurrentHashMap<>();
    private final Set<String> revokeEnded = ConcurrentHashMap.newKeySet();

    RevocationRecordingTransport(NatsTransport delegate) {
        this.delegate = delegate;
    }

    long revokeStarted(String member, int partition) {
        return revokeStarted.getOrDefault(member + "/" + partition, 0L);
    }

    /** When {@code member}'s first {@code revoked} callback began ({@link System#nanoTime}), or 0 if none has yet. */
    long anyRevokeStarted(String member) {
        return revokeStarted.entrySet().stream().filter(e -> e.getKey().startsWith(member + "/"))
                .mapToLong(Map.Entry::getValue).min().orElse(0L);
    }

    boolean revokeEnded(String member, int partition) {
        return revokeEnded.contains(member + "/" + partition);
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
    public TransportConsumer consumer(ConsumerSpec spec, PartitionListener listener) {
        String member = spec.memberId();
        return delegate.consumer(spec, new PartitionListener() {
            @Override
            public void assigned(Collection<Integer> partitions) {
                listener.assigned(partitions);
            }

            @Override
            public void revoked(Collection<Integer> partitions) {
                long now = System.nanoTime();
                partitions.forEach(p -> revokeStarted.putIfAbsent(member + "/" + p, now));
                listener.revoked(partitions);
                partitions.forEach(p -> revokeEnded.add(member + "/" + p));
            }

            @Override
            public void lost(Collection<Integer> partitions) {
                listener.lost(partitions);
            }
        });
    }

    @Override
    public void close() {
        // the test closes the NATS transport itself
    }
}
