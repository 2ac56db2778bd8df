package io.sluice.log.internal;

import io.sluice.spi.support.LocalMembership;

/**
 * A consumer group on one topic within this process: its membership and partition leases ({@link LocalMembership},
 * which members follow cooperatively through {@link io.sluice.spi.support.GroupMember}) and its durable committed
 * offsets ({@link GroupOffsets}).
 *
 * <p>Thread-safe.
 */
final class LogGroup {
    final String name;
    final GroupOffsets offsets;
    final LocalMembership membership;

    LogGroup(String name, GroupOffsets offsets, int partitions) {
        this.name = name;
        this.offsets = offsets;
        this.membership = new LocalMembership(partitions);
    }

    boolean hasMembers() {
        return membership.hasMembers();
    }

    /** True if some member owns {@code partition} now. */
    boolean isOwned(int partition) {
        return membership.isHeld(partition);
    }
}
