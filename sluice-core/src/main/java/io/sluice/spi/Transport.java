package io.sluice.spi;

import java.util.OptionalLong;

/**
 * A messaging backend. Implementations: memory (this module), the embedded log ({@code sluice-log}), Kafka
 * ({@code sluice-kafka}) and NATS ({@code sluice-nats}). Thread-safe.
 *
 * <p>A transport is a thin seam: it moves bytes and records positions. Ordering by key, bounded concurrency,
 * retries, dead letters and shutdown belong to the engine in sluice-core, written once for all transports.
 */
public interface Transport extends AutoCloseable {
    /** The name used in configuration ({@code transport: memory}). */
    String name();

    TransportCapabilities capabilities();

    /** The shared producer; its lifetime is the transport's. */
    TransportProducer producer();

    /** Joins {@code spec.group()} on {@code spec.topic()}; {@code listener} hears of partition changes. */
    TransportConsumer consumer(ConsumerSpec spec, PartitionListener listener);

    /**
     * The offset of the next message {@code group} would receive from {@code partition} of {@code topic}, if it has
     * committed one. Only for {@link Acknowledgement#OFFSETS} transports; for inspection and tests.
     */
    default OptionalLong committedOffset(String topic, String group, int partition) {
        return OptionalLong.empty();
    }

    /** Releases connections, threads and files. */
    @Override
    void close();
}
