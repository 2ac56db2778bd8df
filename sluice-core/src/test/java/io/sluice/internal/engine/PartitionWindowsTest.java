package io.sluice.internal.engine;

import io.sluice.spi.RecordSink;
import io.sluice.spi.TransportConsumer;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** What the transport is told about per-partition pauses, against the windows' own view. */
class PartitionWindowsTest {
    private final List<String> told = new ArrayList<>();
    private final TransportConsumer consumer = new TransportConsumer() {
        @Override
        public void poll(int maxRecords, long maxBytes, boolean oversizedFirst, long timeoutNanos, RecordSink sink) {
        }

        @Override
        public void pausePartitions(Collection<Integer> partitions) {
            partitions.forEach(p -> told.add("pause " + p));
        }

        @Override
        public void resumePartitions(Collection<Integer> partitions) {
            partitions.forEach(p -> told.add("resume " + p));
        }

        @Override
        public void wakeup() {
        }

        @Override
        public void commit(Map<Integer, Long> nextOffsets, boolean sync) {
        }

        @Override
        public void close() {
        }
    };

    @Test
    void shouldLeaveTheTransportPausedWhenAResumeAndAPauseOfOnePartitionMeetInOneBatch() {
        PartitionWindows windows = new PartitionWindows(consumer, "orders", "g", 4, Long.MAX_VALUE);
        PartitionTracker t = new PartitionTracker(0, 64);
        PartitionTracker[] trackers = {t};
        long[] seq = new long[6];
        for (int i = 0; i < 4; i++) {
            seq[i] = t.track(i);
            windows.tracked(t);
        }
        windows.apply(trackers);
        assertThat(told).containsExactly("pause 0");

        t.complete(seq[0]);
        windows.completed(t);
        t.complete(seq[1]);
        windows.completed(t); // a quarter free: resume is due
        for (int i = 4; i < 6; i++) {
            seq[i] = t.track(i);
            windows.tracked(t); // full again before the owner loop told the transport
        }
        windows.apply(trackers);

        assertThat(t.paused).isTrue();
        assertThat(told).as("the transport ends where the windows think the partition is").last()
                .isEqualTo("pause 0");
    }
}
