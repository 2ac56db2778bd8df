package io.sluice.log.internal;

import io.sluice.Message;
import io.sluice.Receipt;
import io.sluice.log.FsyncPolicy;
import io.sluice.log.LogSettings;
import io.sluice.log.ObservedFileIo;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/** What readers may see: only what the writer published, through limits that never move back. */
class ReadLimitTest {
    @TempDir
    Path dir;

    @Test
    void shouldNeverLowerASegmentsReadLimitOrThePartitionsHighWatermark() throws Exception {
        LogSettings settings = LogSettings.builder(dir).partitions(1).build();
        PartitionLog p = PartitionLog.open("t", 0, dir.resolve("t").resolve("0"), settings, FileIo.DEFAULT,
                new Counters(), e -> { });
        try {
            Segment s = p.segments()[0];
            // A seal publishes the whole segment; a sync task that forced an earlier group publishes later, less.
            s.publish(4096);
            p.publish(s, 1024);
            assertThat(s.readLimit()).isEqualTo(4096);
            p.raiseHighWatermark(40);
            p.raiseHighWatermark(10);
            assertThat(p.highWatermark()).isEqualTo(40);
        } finally {
            p.closeQuietly();
        }
    }

    @Test
    void shouldPositionReadersOnlyByIndexEntriesOfPublishedBatches() throws Exception {
        ObservedFileIo io = new ObservedFileIo();
        CountDownLatch release = new CountDownLatch(1);
        LogSettings settings = LogSettings.builder(dir).partitions(1).fsync(FsyncPolicy.ALWAYS).indexIntervalBytes(64)
                .retentionCheckInterval(Duration.ofHours(1)).build();
        Path segment0 = dir.resolve("t").resolve("0").resolve(Segment.fileName(0, Segment.LOG_SUFFIX))
                .toAbsolutePath().normalize();
        try (LogStore store = LogStore.open(settings, io)) {
            try {
                checkUnpublishedTail(store, io, segment0, release);
            } finally {
                release.countDown(); // before closing, which waits for the sync task
            }
        }
    }

    private static void checkUnpublishedTail(LogStore store, ObservedFileIo io, Path segment0, CountDownLatch release)
            throws Exception {
        store.send("t", record(0)).join();
        // From now on the sync task's fsync hangs: what the writer writes (and indexes) stays unpublished.
        io.onForce((file, nth) -> {
            if (file.equals(segment0)) {
                try {
                    release.await(30, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        });
        PartitionLog p = store.topic("t").partitions()[0];
        Segment s = p.segments()[0];
        List<CompletableFuture<Receipt>> pending = new ArrayList<>();
        for (int i = 1; i <= 50; i++) {
            pending.add(store.send("t", record(i)));
            long written = i + 1;
            // one batch each, so the index gets entries for batches that stay unpublished
            org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(30)).pollDelay(Duration.ZERO)
                    .pollInterval(Duration.ofMillis(1)).until(() -> s.nextOffset() == written);
        }
        assertThat(s.index.entries()).isGreaterThan(10);
        long limit = s.readLimit();
        assertThat(p.highWatermark()).isEqualTo(1);
        assertThat(PartitionCursor.indexedPosition(s, 40)).as("never an entry past the read limit %d", limit)
                .isLessThanOrEqualTo(limit);
        PartitionCursor reader = new PartitionCursor(p, 40);
        assertThat(reader.fill(new BatchDecoder())).isFalse();
        assertThat(p.offsetForTimestamp(1_700_000_000_000L + 30_000)).isEqualTo(1);

        release.countDown();
        CompletableFuture.allOf(pending.toArray(new CompletableFuture[0])).get(30, TimeUnit.SECONDS);
        assertThat(reader.fill(new BatchDecoder())).isTrue();
        assertThat(reader.nextOffset()).isEqualTo(40);
        assertThat(p.offsetForTimestamp(1_700_000_000_000L + 30_000)).isEqualTo(30);
    }

    private static Message record(int i) {
        return Message.builder().id("r-" + i).payload(("value " + i + " ").repeat(10).getBytes(StandardCharsets.UTF_8))
                .timestampMillis(1_700_000_000_000L + i * 1000L).build();
    }
}
