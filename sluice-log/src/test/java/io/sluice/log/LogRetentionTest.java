package io.sluice.log;

import io.sluice.Message;
import io.sluice.Sluice;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.SluiceConfig;
import io.sluice.log.tools.LogVerifier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** Segments roll by size and age; retention deletes whole old segments by size and by time. */
class LogRetentionTest {
    @TempDir
    Path dir;

    private static Message record(int i, long timestamp) {
        return Message.builder().id("r-" + i).payload(("x" + i).repeat(40)).header("n", Integer.toString(i))
                .timestampMillis(timestamp).build();
    }

    private List<Path> segments() throws IOException {
        try (Stream<Path> files = Files.list(dir.resolve("t").resolve("0"))) {
            return files.filter(f -> f.toString().endsWith(".log")).sorted().toList();
        }
    }

    @Test
    void shouldRollBeforeASegmentOutgrowsSegmentBytes() throws IOException {
        try (LogTransport log = LogTransport.open(LogSettings.builder(dir).partitions(1).segmentBytes(4096).build())) {
            for (int i = 0; i < 300; i++) {
                log.append("t", record(i, System.currentTimeMillis())).join();
            }
            List<Path> segs = segments();
            assertThat(segs).hasSizeGreaterThan(5);
            for (Path s : segs) {
                assertThat(Files.size(s)).as("%s", s.getFileName()).isLessThanOrEqualTo(4096);
            }
            assertThat(log.read("t", 0, 0, 1000)).hasSize(300);
        }
        assertThat(LogVerifier.verify(dir, new PrintStream(OutputStream.nullOutputStream())).sound()).isTrue();
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.EnumSource(FsyncPolicy.class)
    void shouldMoveTheRecoveryPointPastEveryRolledSegmentWhateverThePolicy(FsyncPolicy policy) throws IOException {
        LogSettings.Builder b = LogSettings.builder(dir).partitions(1).segmentBytes(4096).fsync(policy);
        if (policy == FsyncPolicy.INTERVAL) {
            b.fsyncInterval(Duration.ofMillis(50));
        }
        Path partition = dir.resolve("t").resolve("0");
        try (LogTransport log = LogTransport.open(b.build())) {
            for (int i = 0; i < 300; i++) {
                log.append("t", record(i, System.currentTimeMillis())).join();
            }
            List<Path> segs = segments();
            long activeBase = Long.parseLong(segs.get(segs.size() - 1).getFileName().toString().substring(0, 20));
            // Under interval and never the rolled segments are forced in the background, without stalling appends.
            await().atMost(Duration.ofSeconds(30)).until(
                    () -> io.sluice.log.internal.RecoveryPoint.read(partition) == activeBase);
        }
        List<Path> segs = segments();
        long activeBase = Long.parseLong(segs.get(segs.size() - 1).getFileName().toString().substring(0, 20));
        assertThat(io.sluice.log.internal.RecoveryPoint.read(partition)).isEqualTo(activeBase);
        assertThat(LogVerifier.verify(dir, new PrintStream(OutputStream.nullOutputStream())).sound()).isTrue();
    }

    @Test
    void shouldRollAnAgedSegmentAndDeleteSegmentsPastRetentionTime() throws IOException {
        long now = System.currentTimeMillis();
        LogSettings settings = LogSettings.builder(dir).partitions(1).segmentMaxAge(Duration.ofMillis(10))
                .retentionTime(Duration.ofHours(1)).retentionCheckInterval(Duration.ofHours(1)).build();
        try (LogTransport log = LogTransport.open(settings)) {
            long old = now - Duration.ofHours(2).toMillis();
            for (int i = 0; i < 10; i++) {
                log.append("t", record(i, old)).join();
            }
            await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(20)).until(() -> {
                log.enforceRetention(); // rolls the aged segment, then its records are past retention time
                return log.startOffset("t", 0) == 10;
            });
            assertThat(segments()).hasSize(1);
            log.append("t", record(10, now)).join();
            assertThat(log.read("t", 0, 0, 100)).singleElement()
                    .satisfies(r -> assertThat(r.offset()).isEqualTo(10));
        }
    }

    @Test
    void shouldDeleteOldestSegmentsWhileTheRestHoldRetentionBytesAndMoveReadersOn() throws IOException {
        LogSettings settings = LogSettings.builder(dir).partitions(1).segmentBytes(2048).retentionBytes(6000)
                .retentionCheckInterval(Duration.ofHours(1)).build();
        try (LogTransport log = LogTransport.open(settings);
             Sluice sluice = Sluice.create(log, SluiceConfig.of("log"))) {
            for (int i = 0; i < 200; i++) {
                log.append("t", record(i, System.currentTimeMillis())).join();
            }
            log.enforceRetention();
            long start = log.startOffset("t", 0);
            assertThat(start).isPositive();
            long total = 0;
            for (Path s : segments()) {
                total += Files.size(s);
            }
            assertThat(total).isGreaterThanOrEqualTo(6000).isLessThan(6000 + 2048);
            assertThat(log.read("t", 0, 0, 1).get(0).offset()).as("a read before the start begins at the start")
                    .isEqualTo(start);
            List<String> seen = new CopyOnWriteArrayList<>();
            sluice.subscribe("t", "late", m -> seen.add(m.header("n")),
                    ConsumerOptions.builder().commitInterval(Duration.ofMillis(10)).build());
            await().atMost(Duration.ofSeconds(30)).until(() -> seen.size() == 200 - start);
            // Keyless records run in parallel, so completion order is free: exactly the retained ones, from start.
            assertThat(seen).containsExactlyInAnyOrderElementsOf(java.util.stream.LongStream.range(start, 200)
                    .mapToObj(Long::toString).toList());
        }
        assertThat(LogVerifier.verify(dir, new PrintStream(OutputStream.nullOutputStream())).sound()).isTrue();
    }

    @Test
    void shouldReportRecordsRetentionDeletedBeforeAGroupReadThem() throws IOException {
        LogSettings settings = LogSettings.builder(dir).partitions(1).segmentBytes(2048).retentionBytes(6000)
                .retentionCheckInterval(Duration.ofHours(1)).build();
        ConsumerOptions options = ConsumerOptions.builder().commitInterval(Duration.ofMillis(10)).build();
        try (LogTransport log = LogTransport.open(settings);
             Sluice sluice = Sluice.create(log, SluiceConfig.of("log"))) {
            for (int i = 0; i < 20; i++) {
                log.append("t", record(i, System.currentTimeMillis())).join();
            }
            List<String> seen = new CopyOnWriteArrayList<>();
            var first = sluice.subscribe("t", "billing", m -> seen.add(m.header("n")), options);
            await().atMost(Duration.ofSeconds(30)).until(() -> log.committedOffset("t", "billing", 0).orElse(-1)
                    == 20);
            first.close();
            for (int i = 20; i < 200; i++) {
                log.append("t", record(i, System.currentTimeMillis())).join();
            }
            log.enforceRetention();
            long start = log.startOffset("t", 0);
            assertThat(start).isGreaterThan(20);
            // Deleted while no member read the partition: reported against the group's committed offset.
            assertThat(log.events()).singleElement().satisfies(e -> {
                assertThat(e.kind()).isEqualTo(RecoveryEvent.Kind.RETENTION_UNCONSUMED);
                assertThat(e.offset()).isEqualTo(20);
                assertThat(e.detail()).isEqualTo("retention deleted offsets 20.." + (start - 1) + " before group "
                        + "billing consumed them (committed 20); it resumes at " + start);
            });
            assertThat(log.read("t", 0, 0, 1)).as("a direct read starts at the log start, silently")
                    .extracting(LogRecord::offset).containsExactly(start);
            assertThat(log.events()).hasSize(1);

            seen.clear();
            sluice.subscribe("t", "billing", m -> seen.add(m.header("n")), options);
            await().atMost(Duration.ofSeconds(30)).until(() -> seen.size() == 200 - start);
            // Keyless records run in parallel, so completion order is free: exactly the retained ones, from start.
            assertThat(seen).containsExactlyInAnyOrderElementsOf(java.util.stream.LongStream.range(start, 200)
                    .mapToObj(Long::toString).toList());
            assertThat(log.events()).hasSize(2).last().satisfies(e -> {
                assertThat(e.kind()).isEqualTo(RecoveryEvent.Kind.RETENTION_SKIPPED);
                assertThat(e.offset()).isEqualTo(20);
                assertThat(e.detail()).isEqualTo("group billing was at offset 20 but retention deleted offsets 20.."
                        + (start - 1) + " before it read them; it continues at " + start);
            });
            assertThat(log.stats().recordsSkippedByRetention()).isEqualTo(start - 20);
        }
    }
}
