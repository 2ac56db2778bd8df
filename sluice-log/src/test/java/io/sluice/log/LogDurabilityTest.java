package io.sluice.log;

import io.sluice.Message;
import io.sluice.PublishException;
import io.sluice.Receipt;
import io.sluice.log.internal.RecoveryPoint;
import io.sluice.log.tools.LogVerifier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * What the fsync policies promise, checked at the file-system seam ({@link ObservedFileIo}) rather than by killing
 * the machine: an {@code always} publish completes only once an fsync that started after its batch was written has
 * returned, and the directory entry of its segment (after a roll) was forced too; a failed fsync anywhere stops the
 * partition, fails what was not acknowledged, keeps the recovery point where it was, and is reported.
 */
class LogDurabilityTest {
    private static final String TOPIC = "t";

    @TempDir
    Path dir;

    private final ObservedFileIo io = new ObservedFileIo();

    private Path partitionDir() {
        return dir.resolve(TOPIC).resolve("0");
    }

    private Path segment(long base) {
        return partitionDir().resolve(String.format("%020d.log", base));
    }

    private static Message record(int i) {
        return Message.builder().id("r-" + i).payload(("payload " + i + " ").repeat(12)
                .getBytes(StandardCharsets.UTF_8)).build();
    }

    private LogSettings.Builder settings(FsyncPolicy policy) {
        return LogSettings.builder(dir).partitions(1).segmentBytes(4096).fsync(policy)
                .retentionCheckInterval(Duration.ofHours(1));
    }

    private List<Path> segments() throws IOException {
        try (Stream<Path> files = Files.list(partitionDir())) {
            return files.filter(f -> f.toString().endsWith(".log")).sorted().toList();
        }
    }

    private static boolean sound(Path logDir) throws IOException {
        return LogVerifier.verify(logDir, new PrintStream(OutputStream.nullOutputStream())).sound();
    }

    @Test
    void shouldCompleteAnAlwaysPublishOnlyAfterAnFsyncCoveringItAndTheRolledSegmentsDirectoryEntry()
            throws Exception {
        List<String> violations = new CopyOnWriteArrayList<>();
        List<CompletableFuture<Receipt>> sent = new ArrayList<>();
        try (LogTransport log = LogTransport.open(settings(FsyncPolicy.ALWAYS).build(), io)) {
            List<Thread> publishers = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                int thread = t;
                publishers.add(Thread.ofPlatform().start(() -> {
                    for (int i = 0; i < 150; i++) {
                        CompletableFuture<Receipt> f = log.append(TOPIC, record(thread * 1000 + i));
                        // Runs where the future completes, right after the sync task forced: check what is durable now.
                        f.thenAccept(r -> {
                            if (!io.durable(partitionDir(), r.offset())) {
                                violations.add("offset " + r.offset() + " acknowledged before it was durable");
                            }
                        });
                        synchronized (sent) {
                            sent.add(f);
                        }
                        f.join(); // a few records per group commit, so segments roll often
                    }
                }));
            }
            for (Thread p : publishers) {
                p.join();
            }
            CompletableFuture.allOf(sent.toArray(new CompletableFuture[0])).get(60, TimeUnit.SECONDS);
            assertThat(log.endOffset(TOPIC, 0)).isEqualTo(1200);
        }
        assertThat(segments()).as("the test must cover rolls").hasSizeGreaterThan(10);
        assertThat(violations).isEmpty();
        assertThat(io.forces(segment(0))).isPositive();
        // A roll forces the directory itself, at once: not only later, as a side effect of moving the recovery point.
        String partition = partitionDir().toAbsolutePath().normalize().toString();
        List<String> names = io.events.stream().map(e -> e.substring(e.indexOf(' ') + 1)).toList();
        for (Path s : segments()) {
            int created = names.indexOf("create " + s.toAbsolutePath().normalize());
            assertThat(created).as("%s was created through the FileIo", s.getFileName()).isNotNegative();
            int dirForced = indexAfter(names, created, n -> n.equals("forceDir " + partition));
            int pointMoved = indexAfter(names, created, n -> n.startsWith("replace ") && n.contains("recovery-point"));
            assertThat(dirForced).as("directory forced after creating %s", s.getFileName()).isPositive()
                    .isLessThan(pointMoved < 0 ? Integer.MAX_VALUE : pointMoved);
        }
    }

    private static int indexAfter(List<String> names, int from, java.util.function.Predicate<String> test) {
        for (int i = from + 1; i < names.size(); i++) {
            if (test.test(names.get(i))) {
                return i;
            }
        }
        return -1;
    }

    @Test
    void shouldFailThePublishAndStopThePartitionWhenTheSyncTasksFsyncFails() throws Exception {
        io.onForce((file, nth) -> {
            if (file.equals(segment(0).toAbsolutePath().normalize()) && nth == 1) {
                throw new IOException("injected: fsync failed (EIO)");
            }
        });
        try (LogTransport log = LogTransport.open(settings(FsyncPolicy.ALWAYS).build(), io)) {
            assertThatThrownBy(() -> log.append(TOPIC, record(0)).join())
                    .hasCauseInstanceOf(PublishException.class)
                    .cause().hasMessageContaining("append to t/0 failed: java.io.IOException: injected: fsync failed "
                            + "(EIO); the record may or may not be stored, and the partition takes no appends until "
                            + "the log is reopened");
            assertThat(log.events()).singleElement().satisfies(e -> {
                assertThat(e.kind()).isEqualTo(RecoveryEvent.Kind.PARTITION_STOPPED);
                assertThat(e.file()).isEqualTo(segment(0));
                assertThat(e.detail()).startsWith("a write or fsync failed (java.io.IOException: injected: fsync "
                        + "failed (EIO)); publishes not yet acknowledged failed");
            });
            assertThatThrownBy(() -> log.append(TOPIC, record(1)).join()).hasCauseInstanceOf(PublishException.class);
        }
        // Reopened (the disk is in fact fine here), the log recovers whatever reached it.
        try (LogTransport log = LogTransport.open(settings(FsyncPolicy.ALWAYS).build())) {
            assertThat(log.endOffset(TOPIC, 0)).isBetween(0L, 1L);
            assertThat(log.append(TOPIC, record(2)).join().offset()).isEqualTo(log.endOffset(TOPIC, 0) - 1);
        }
        assertThat(sound(dir)).isTrue();
    }

    /**
     * The sync task's fsync of segment 0 hangs and then fails while the writer rolls segment 0. On Linux the seal's
     * own fsync would then report success for pages already dropped: the seal must fail instead, so nothing written
     * before the failure is acknowledged and the recovery point does not move past segment 0.
     */
    @Test
    void shouldNotTrustALaterFsyncOfASegmentWhoseFsyncFailed() throws Exception {
        java.util.concurrent.CountDownLatch hanging = new java.util.concurrent.CountDownLatch(1);
        io.onForce((file, nth) -> {
            if (file.equals(segment(0).toAbsolutePath().normalize()) && nth == 1) {
                hanging.countDown();
                // The fsync hangs until the writer has written the next group and rolled segment 0.
                await().atMost(Duration.ofSeconds(30)).until(() -> segments().size() > 1);
                throw new IOException("injected: fsync failed (EIO)");
            }
        });
        List<String> violations = new CopyOnWriteArrayList<>();
        List<CompletableFuture<Receipt>> sent = new ArrayList<>();
        try (LogTransport log = LogTransport.open(settings(FsyncPolicy.ALWAYS).build(), io)) {
            for (int i = 0; i < 100; i++) {
                CompletableFuture<Receipt> f = log.append(TOPIC, record(i));
                f.thenAccept(r -> {
                    if (!io.durable(partitionDir(), r.offset())) {
                        violations.add("offset " + r.offset() + " acknowledged but lost");
                    }
                });
                sent.add(f);
                if (i == 0) {
                    // record 0 alone in segment 0, being forced: the other 99 make one group too big to join it
                    assertThat(hanging.await(30, TimeUnit.SECONDS)).isTrue();
                }
            }
            for (CompletableFuture<Receipt> f : sent) {
                assertThatThrownBy(() -> f.get(60, TimeUnit.SECONDS)).hasCauseInstanceOf(PublishException.class);
            }
            assertThat(segments()).as("the writer rolled segment 0 while its fsync hung").hasSizeGreaterThan(1);
            assertThat(RecoveryPoint.read(partitionDir())).isZero();
            assertThat(log.events()).extracting(RecoveryEvent::kind).containsExactly(
                    RecoveryEvent.Kind.PARTITION_STOPPED);
        }
        assertThat(violations).isEmpty();
        assertThat(RecoveryPoint.read(partitionDir())).as("a failed partition closes without moving the point")
                .isZero();
    }

    @Test
    void shouldStopThePartitionAndReportItWhenAnIntervalFsyncFails() throws Exception {
        io.onForce((file, nth) -> {
            if (file.equals(segment(0).toAbsolutePath().normalize())) {
                throw new IOException("injected: fsync failed (EIO)");
            }
        });
        try (LogTransport log = LogTransport.open(settings(FsyncPolicy.INTERVAL).fsyncInterval(Duration.ofMillis(20))
                .build(), io)) {
            // Under interval a publish completes once written; the fsync comes later, and its failure is reported.
            assertThat(log.append(TOPIC, record(0)).join().offset()).isZero();
            await().atMost(Duration.ofSeconds(30)).until(() -> !log.events().isEmpty());
            assertThat(log.events()).singleElement().satisfies(e -> {
                assertThat(e.kind()).isEqualTo(RecoveryEvent.Kind.PARTITION_STOPPED);
                assertThat(e.topic()).isEqualTo(TOPIC);
                assertThat(e.detail()).contains("injected: fsync failed (EIO)");
            });
            assertThatThrownBy(() -> log.append(TOPIC, record(1)).join())
                    .hasCauseInstanceOf(PublishException.class)
                    .cause().hasMessageContaining("the partition takes no appends until the log is reopened");
        }
    }

    @Test
    void shouldStopThePartitionAndKeepTheRecoveryPointWhenTheBackgroundFlushOfARolledSegmentFails()
            throws Exception {
        io.onForce((file, nth) -> {
            if (file.equals(segment(0).toAbsolutePath().normalize())) {
                throw new IOException("injected: fsync failed (EIO)");
            }
        });
        try (LogTransport log = LogTransport.open(settings(FsyncPolicy.NEVER).build(), io)) {
            int acknowledged = 0;
            try {
                for (int i = 0; i < 400; i++) {
                    log.append(TOPIC, record(i)).join();
                    acknowledged++;
                }
            } catch (java.util.concurrent.CompletionException e) {
                assertThat(e).hasCauseInstanceOf(PublishException.class);
            }
            int sent = acknowledged;
            await().atMost(Duration.ofSeconds(30)).until(() -> !log.events().isEmpty());
            assertThat(log.events()).singleElement().satisfies(e -> {
                assertThat(e.kind()).isEqualTo(RecoveryEvent.Kind.PARTITION_STOPPED);
                assertThat(e.detail()).contains("injected: fsync failed (EIO)");
            });
            assertThatThrownBy(() -> log.append(TOPIC, record(sent)).join())
                    .hasCauseInstanceOf(PublishException.class);
            assertThat(RecoveryPoint.read(partitionDir())).isZero();
        }
        assertThat(RecoveryPoint.read(partitionDir())).isZero();
        // Reopened, segment 0 and everything after it are checked batch by batch; here they are whole.
        try (LogTransport log = LogTransport.open(settings(FsyncPolicy.NEVER).build())) {
            assertThat(log.events()).isEmpty();
            assertThat(log.read(TOPIC, 0, 0, 1000)).hasSize((int) log.endOffset(TOPIC, 0));
        }
    }
}
