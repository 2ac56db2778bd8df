package io.sluice.spi;

import java.util.Collection;

/**
 * Told by a {@link TransportConsumer} when the group hands partitions to this member or takes them away. Called on
 * the poll thread, from inside {@link TransportConsumer#poll} (or {@code close}).
 */
public interface PartitionListener {
    /** These partitions are now this member's; fetching starts at the group's committed position. */
    void assigned(Collection<Integer> partitions);

    /**
     * These partitions are about to move to another member. The engine stops dispatching them, waits (bounded) for
     * their running handlers, and commits their watermark through {@link TransportConsumer#commit} with
     * {@code sync = true} before returning; only then does the transport release them.
     */
    void revoked(Collection<Integer> partitions);

    /** These partitions were taken away without a chance to commit (session expired); their work is abandoned. */
    void lost(Collection<Integer> partitions);
}
