package io.sluice.log;

import io.sluice.Message;
import io.sluice.PublishException;
import io.sluice.Receipt;
import io.sluice.Sluice;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.SluiceConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/** The log as a transport beyond the contract suite: limits, durability of commits, seeking, policies. */
class LogTransportTest {
    private static final Duration WAIT = Duration.ofSeconds(60);

    @TempDir
    Path dir;

    private static Message order(int n) {
        return Message.builder().key("customer-" + (n % 17)).payload("order " + n).header("n", Integer.toString(n))
                .timestampMillis(1_700_000_000_000L + n * 1000L).build();
    }

    @Test
    void shouldFailAPublishLargerThanMaxMessageBytesAndStoreNothing() {
        try (LogTransport log = LogTransport.open(LogSettings.builder(dir).partitions(1).maxMessageBytes(1000)
                .build())) {
            Message big = Message.builder().id("big-1").payload(new byte[1000]).build();
            assertThatThrownBy(() -> log.append("t", big).join())
                    .hasCauseInstanceOf(PublishException.class)
                    .cause().hasMessageStartingWith("message big-1 is 1014 bytes encoded (key, value, headers and id), "
                            + "larger than log.maxMessageBytes=1000; not published to t");
            assertThat(log.append("t", Message.of(new byte[900])).join().offset()).isZero();
            assertThat(log.endOffset("t", 0)).isEqualTo(1);
        }
    }

    @Test
    void shouldSplitPartitionsAcrossMembersAndKeepCommittedOffsetsAcrossReopen() {
        Map<Integer, Long> ends = new HashMap<>();
        try (LogTransport log = LogTransport.open(LogSettings.builder(dir).build());
             Sluice sluice = Sluice.create(log, SluiceConfig.of("log"))) {
            List<CompletableFuture<Receipt>> sent = new ArrayList<>();
            for (int i = 0; i < 400; i++) {
                sent.add(sluice.publisher().publish("orders", order(i)));
            }
            sent.forEach(CompletableFuture::join);
            Set<String> handled = ConcurrentHashMap.newKeySet();
            var a = sluice.subscribe("orders", "billing", m -> handled.add(m.header("n")), fast());
            var b = sluice.subscribe("orders", "billing", m -> handled.add(m.header("n")), fast());
            await().atMost(WAIT).until(() -> handled.size() == 400);
            await().atMost(WAIT).until(() -> !a.assignedPartitions().isEmpty() && !b.assignedPartitions().isEmpty());
            assertThat(a.assignedPartitions()).doesNotContainAnyElementsOf(b.assignedPartitions());
            for (int p = 0; p < 4; p++) {
                ends.put(p, log.endOffset("orders", p));
            }
            int partition = 0;
            await().atMost(WAIT).until(() -> log.committedOffset("orders", "billing", partition).orElse(-1)
                    == ends.get(partition));
        }
        try (LogTransport log = LogTransport.open(LogSettings.builder(dir).build())) {
            assertThat(log.events()).isEmpty();
            for (int p = 0; p < 4; p++) {
                assertThat(log.committedOffset("orders", "billing", p)).as("partition %d", p).hasValue(ends.get(p));
            }
        }
    }

    private static ConsumerOptions fast() {
        return ConsumerOptions.builder().commitInterval(Duration.ofMillis(10)).build();
    }

    @Test
    void shouldResumeFromTheCommittedWatermarkAfterTheConsumerProcessIsKilled() throws Exception {
        Map<String, Receipt> receipts = new HashMap<>();
        try (LogTransport log = LogTransport.open(LogSettings.builder(dir).build())) {
            for (int i = 0; i < 3000; i++) {
                Receipt r = log.append("orders", order(i)).join();
                receipts.put(Integer.toString(i), r);
            }
        }
        Set<String> handledByChild = new HashSet<>();
        try (ChildJvm child = ChildJvm.start(dir.resolveSibling(dir.getFileName() + "-child.err"),
                ConsumerChild.class, dir.toString())) {
            await().atMost(WAIT).until(() -> child.lines.stream().filter(l -> l.startsWith("H ")).count() >= 800);
            child.kill();
            for (String line : child.lines) {
                String[] f = line.split(" ");
                if (f.length == 2 && f[0].equals("H")) {
                    handledByChild.add(f[1]);
                }
            }
        }
        try (LogTransport log = LogTransport.open(LogSettings.builder(dir).build());
             Sluice sluice = Sluice.create(log, SluiceConfig.of("log"))) {
            long[] committed = new long[4];
            for (int p = 0; p < 4; p++) {
                committed[p] = log.committedOffset("orders", "billing", p).orElse(0);
            }
            assertThat(java.util.Arrays.stream(committed).sum()).as("the killed consumer had committed").isPositive();
            for (Map.Entry<String, Receipt> e : receipts.entrySet()) {
                Receipt r = e.getValue();
                if (r.offset() < committed[r.partition()]) {
                    assertThat(handledByChild).as("committed message %s (%d/%d) was handled", e.getKey(),
                            r.partition(), r.offset()).contains(e.getKey());
                }
            }
            List<Receipt> redelivered = new CopyOnWriteArrayList<>();
            sluice.subscribe("orders", "billing", m -> redelivered.add(receipts.get(m.header("n"))), fast());
            long expected = 0;
            for (int p = 0; p < 4; p++) {
                expected += log.endOffset("orders", p) - committed[p];
            }
            long total = expected;
            await().atMost(WAIT).until(() -> redelivered.size() >= total);
            assertThat(redelivered).as("exactly the messages at and after each committed watermark").hasSize(
                    (int) total).allSatisfy(r -> assertThat(r.offset()).isGreaterThanOrEqualTo(committed[r.partition()]));
            for (int p = 0; p < 4; p++) {
                int partition = p;
                assertThat(redelivered.stream().filter(r -> r.partition() == partition).mapToLong(Receipt::offset)
                        .min()).as("partition %d resumes at its watermark", p).satisfiesAnyOf(
                        min -> assertThat(min).isEmpty(),
                        min -> assertThat(min).hasValue(committed[partition]));
            }
        }
    }

    @Test
    void shouldSeekAGroupToAnOffsetOrATime() {
        try (LogTransport log = LogTransport.open(LogSettings.builder(dir).partitions(1).segmentBytes(4096)
                .indexIntervalBytes(256).build());
             Sluice sluice = Sluice.create(log, SluiceConfig.of("log"))) {
            for (int i = 0; i < 500; i++) {
                log.append("events", order(i)).join();
            }
            assertThat(log.offsetForTime("events", 0, Instant.ofEpochMilli(1_700_000_000_000L + 123_500)))
                    .isEqualTo(124);
            assertThat(log.offsetForTime("events", 0, Instant.ofEpochMilli(0))).isZero();
            assertThat(log.offsetForTime("events", 0, Instant.ofEpochMilli(1_800_000_000_000L))).isEqualTo(500);

            Map<Integer, Long> at = log.seekGroupToTime("events", "replay", Instant.ofEpochMilli(
                    1_700_000_000_000L + 400_000));
            assertThat(at).containsExactly(Map.entry(0, 400L));
            List<String> seen = new CopyOnWriteArrayList<>();
            var sub = sluice.subscribe("events", "replay", m -> seen.add(m.header("n")), fast());
            await().atMost(WAIT).until(() -> seen.size() == 100);
            assertThat(seen.stream().map(Integer::parseInt).sorted().toList())
                    .as("exactly the records from the seeked time on").isEqualTo(
                            java.util.stream.IntStream.range(400, 500).boxed().toList());
            assertThatThrownBy(() -> log.seekGroup("events", "replay", Map.of(0, 10L)))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessage("group replay on topic events has active members; close its subscriptions before "
                            + "moving its offsets");
            sub.close();
            log.seekGroup("events", "replay", Map.of(0, 10L));
            assertThat(log.committedOffset("events", "replay", 0)).hasValue(10);
            assertThat(log.read("events", 0, 10, 1)).singleElement()
                    .satisfies(r -> assertThat(r.message().header("n")).isEqualTo("10"));
        }
    }

    @ParameterizedTest
    @EnumSource(FsyncPolicy.class)
    void shouldStoreAndReadBackUnderEveryFsyncPolicy(FsyncPolicy policy) {
        LogSettings.Builder b = LogSettings.builder(dir).fsync(policy).partitions(2);
        if (policy == FsyncPolicy.INTERVAL) {
            b.fsyncInterval(Duration.ofMillis(5));
        }
        LogSettings settings = b.build();
        try (LogTransport log = LogTransport.open(settings)) {
            List<CompletableFuture<Receipt>> sent = new ArrayList<>();
            for (int i = 0; i < 1000; i++) {
                sent.add(log.append("p", order(i)));
            }
            sent.forEach(CompletableFuture::join);
        }
        try (LogTransport log = LogTransport.open(settings)) {
            assertThat(log.endOffset("p", 0) + log.endOffset("p", 1)).isEqualTo(1000);
            assertThat(log.read("p", 1, 0, 2000)).hasSize((int) log.endOffset("p", 1));
        }
    }

    @Test
    void shouldKeepATopicsPartitionCountWhenTheSettingChanges() {
        try (LogTransport log = LogTransport.open(LogSettings.builder(dir).partitions(3).build())) {
            log.append("fixed", order(1)).join();
        }
        try (LogTransport log = LogTransport.open(LogSettings.builder(dir).partitions(8).build())) {
            assertThat(log.partitions("fixed")).isEqualTo(3);
            assertThat(log.partitions("new")).isEqualTo(8);
            assertThat(log.topics()).containsExactlyInAnyOrder("fixed", "new");
        }
    }

    @Test
    void shouldAcceptAnyTopicAndGroupNameAsAFileName() {
        String topic = "orders/eu:ünïcode ✓";
        try (LogTransport log = LogTransport.open(LogSettings.builder(dir).build())) {
            log.append(topic, order(1)).join();
            log.seekGroup(topic, "../../etc", Map.of(0, 0L));
        }
        assertThat(Files.isDirectory(dir.resolve("orders%2Feu%3A%C3%BCn%C3%AFcode%20%E2%9C%93"))).isTrue();
        try (LogTransport log = LogTransport.open(LogSettings.builder(dir).build())) {
            assertThat(log.topics()).containsExactly(topic);
            assertThat(log.committedOffset(topic, "../../etc", 0)).hasValue(0);
        }
    }

    /**
     * Readers follow the writer and the sync task while segments roll under fsync always: the end offset they see
     * never moves back, and every offset below it is there to read, dense, whatever the interleaving of a seal and
     * a late sync.
     */
    @Test
    void shouldLetReadersFollowRollingSegmentsWithoutTheVisibleEndEverMovingBack() throws Exception {
        int publishers = 4;
        int each = 250;
        try (LogTransport log = LogTransport.open(LogSettings.builder(dir).partitions(1).segmentBytes(1024)
                .fsync(FsyncPolicy.ALWAYS).build())) {
            List<Thread> threads = new ArrayList<>();
            for (int t = 0; t < publishers; t++) {
                int thread = t;
                threads.add(Thread.ofPlatform().start(() -> {
                    for (int i = 0; i < each; i++) {
                        byte[] payload = ("p" + thread + " r" + i).getBytes(java.nio.charset.StandardCharsets.UTF_8);
                        log.append("t", Message.of(payload)).join();
                    }
                }));
            }
            List<String> problems = new CopyOnWriteArrayList<>();
            long next = 0;
            long lastEnd = 0;
            long total = (long) publishers * each;
            long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            while (next < total && System.nanoTime() < deadline) {
                long end = log.endOffset("t", 0);
                if (end < lastEnd) {
                    problems.add("end offset moved back from " + lastEnd + " to " + end);
                }
                lastEnd = end;
                for (List<LogRecord> chunk; !(chunk = log.read("t", 0, next, 1000)).isEmpty(); ) {
                    for (LogRecord r : chunk) {
                        if (r.offset() != next) {
                            problems.add("read offset " + r.offset() + " where " + next + " was next");
                        }
                        next = r.offset() + 1;
                    }
                }
                if (next < end) {
                    // below the end the reader saw before reading, everything must be readable now
                    problems.add("end was " + end + " but reading stopped at " + next);
                }
            }
            for (Thread t : threads) {
                t.join();
            }
            assertThat(problems).isEmpty();
            assertThat(next).isEqualTo(total);
            try (var files = Files.list(dir.resolve("t").resolve("0"))) {
                assertThat(files.filter(f -> f.toString().endsWith(".log")).count()).isGreaterThan(20);
            }
        }
    }
}
