package io.sluice.internal.engine;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

class PartitionTrackerTest {

    @Test
    void shouldNotPassAnUnfinishedOffset() {
        PartitionTracker t = new PartitionTracker(0, 64);
        long s0 = t.track(10);
        long s1 = t.track(11);
        long s2 = t.track(12);
        t.complete(s1);
        t.complete(s2);
        assertThat(t.watermark()).as("offset 10 is unfinished").isEqualTo(-1);
        t.complete(s0);
        assertThat(t.watermark()).isEqualTo(13);
        assertThat(t.span()).isZero();
    }

    @Test
    void shouldSendAWatermarkAgainOnlyWhenItsBackgroundCommitFailedOrItMoved() {
        PartitionTracker t = new PartitionTracker(0, 64);
        t.complete(t.track(0));
        assertThat(t.needsBackgroundCommit()).isTrue();
        t.markSent(1);
        assertThat(t.needsBackgroundCommit()).as("sent, answer pending").isFalse();
        assertThat(t.hasUncommitted()).as("not confirmed: a synchronous commit still covers it").isTrue();

        t.complete(t.track(1));
        t.markSent(2);
        t.markFailed(1); // the older commit's failure does not undo the newer send
        assertThat(t.needsBackgroundCommit()).isFalse();
        t.markFailed(2);
        assertThat(t.needsBackgroundCommit()).as("the newest send failed: send it again").isTrue();

        t.markCommitted(2);
        assertThat(t.needsBackgroundCommit()).isFalse();
        assertThat(t.hasUncommitted()).isFalse();
    }

    @Test
    void shouldSkipGapsInOffsets() {
        PartitionTracker t = new PartitionTracker(0, 64);
        long a = t.track(100);
        long b = t.track(250); // compacted or transaction markers in between
        t.complete(a);
        assertThat(t.watermark()).isEqualTo(101);
        t.complete(b);
        assertThat(t.watermark()).isEqualTo(251);
    }

    @Test
    void shouldGrowWhenOneOffsetIsStuckAndKeepTheWatermark() {
        PartitionTracker t = new PartitionTracker(0, 64);
        long stuck = t.track(0);
        for (long o = 1; o < 10_000; o++) {
            t.complete(t.track(o));
        }
        assertThat(t.span()).isEqualTo(10_000);
        assertThat(t.watermark()).isEqualTo(-1);
        t.complete(stuck);
        assertThat(t.watermark()).isEqualTo(10_000);
        assertThat(t.span()).isZero();
    }

    @Test
    void shouldMatchASortedSetModelUnderRandomCompletionOrder() {
        Random random = new Random(42);
        PartitionTracker t = new PartitionTracker(0, 64);
        List<long[]> open = new ArrayList<>();
        java.util.TreeSet<Long> unfinished = new java.util.TreeSet<>();
        long next = 0;
        long maxTracked = -1;
        for (int round = 0; round < 200; round++) {
            int add = random.nextInt(50);
            for (int i = 0; i < add; i++) {
                long offset = next;
                next += 1 + random.nextInt(3);
                open.add(new long[]{t.track(offset), offset});
                unfinished.add(offset);
                maxTracked = offset;
            }
            Collections.shuffle(open, random);
            int finish = random.nextInt(open.size() + 1);
            for (int i = 0; i < finish; i++) {
                long[] e = open.remove(open.size() - 1);
                t.complete(e[0]);
                unfinished.remove(e[1]);
            }
            long expected = unfinished.isEmpty() ? maxTracked + 1 : unfinished.first();
            if (t.watermark() >= 0) {
                assertThat(t.watermark()).isLessThanOrEqualTo(expected);
                assertThat(unfinished.headSet(t.watermark())).isEmpty();
            }
            if (unfinished.isEmpty() && maxTracked >= 0) {
                assertThat(t.watermark()).isEqualTo(maxTracked + 1);
            }
        }
    }

    @Test
    void shouldReportUncommittedUntilMarked() {
        PartitionTracker t = new PartitionTracker(3, 64);
        assertThat(t.hasUncommitted()).isFalse();
        t.complete(t.track(0));
        assertThat(t.hasUncommitted()).isTrue();
        t.markCommitted(t.watermark());
        assertThat(t.hasUncommitted()).isFalse();
    }
}
