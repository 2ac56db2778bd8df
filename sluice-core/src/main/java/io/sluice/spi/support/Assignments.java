package io.sluice.spi.support;

import java.util.List;

/**
 * How a group's partitions are split among its members. Pure functions; any thread.
 */
public final class Assignments {
    private Assignments() {
    }

    /**
     * Round robin: partition {@code p} belongs to {@code members.get(p % members.size())}. Every member computes the
     * same split from the same list, so no member has to hand assignments to the others. Keyed order only needs
     * that a partition has one owner at a time, which the leases ensure; this split only decides who tries.
     *
     * @return for each partition, whether {@code self} should own it; all false if {@code self} is not a member
     */
    public static boolean[] roundRobin(List<String> members, String self, int partitions) {
        boolean[] target = new boolean[partitions];
        int index = members.indexOf(self);
        if (index >= 0) {
            for (int p = index; p < partitions; p += members.size()) {
                target[p] = true;
            }
        }
        return target;
    }
}
