package io.sluice.log;

import io.sluice.Message;
import io.sluice.Sluice;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.SluiceConfig;
import io.sluice.log.internal.BatchFormat;
import io.sluice.log.internal.BatchScanner;
import io.sluice.log.tools.LogVerifier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * What the log does with damaged files. The defined behaviour: damage in the tail of the active segment is cut off on
 * open (a torn write); damage anywhere else is reported with file, position and offset, and reading the partition
 * stops before it, never skipping it and never returning it as data.
 */
class LogCorruptionTest {
    private static final String TOPIC = "t";

    @TempDir
    Path dir;

    private LogSettings settings(int partitions) {
        return LogSettings.builder(dir).partitions(partitions).segmentBytes(8 * 1024).indexIntervalBytes(512).build();
    }

    private static Message record(int i) {
        return Message.builder().id("id-" + i).key("k" + (i % 5)).payload(("value " + i + " ").repeat(8))
                .header("n", Integer.toString(i)).timestampMillis(1_700_000_000_000L + i * 1000L).build();
    }

    /** Appends {@code n} records one at a time (one batch each) to partition 0 of a 1-partition topic. */
    private void writeRecords(int n) {
        try (LogTransport log = LogTransport.open(settings(1))) {
            for (int i = 0; i < n; i++) {
                log.append(TOPIC, record(i)).join();
            }
        }
    }

    private Path partitionDir(int partition) {
        return dir.resolve(TOPIC).resolve(Integer.toString(partition));
    }

    private List<Path> segments(int partition) throws IOException {
        try (Stream<Path> files = Files.list(partitionDir(partition))) {
            return files.filter(f -> f.toString().endsWith(".log")).sorted().toList();
        }
    }

    /** Start positions of the batches in a segment file. */
    private static List<Long> batchPositions(Path log) throws IOException {
        List<Long> positions = new ArrayList<>();
        try (FileChannel ch = FileChannel.open(log, StandardOpenOption.READ)) {
            BatchScanner s = new BatchScanner().reset((dst, pos) -> ch.read(dst, pos), 0, ch.size(), true);
            while (s.next()) {
                positions.add(s.position());
            }
        }
        return positions;
    }

    private static void flipBit(Path file, long bytePosition, int bit) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(1);
            ch.read(b, bytePosition);
            b.put(0, (byte) (b.get(0) ^ (1 << bit)));
            b.rewind();
            ch.write(b, bytePosition);
        }
    }

    private static List<Message> readAll(LogTransport log, int partition) {
        List<Message> out = new ArrayList<>();
        while (true) {
            List<LogRecord> chunk = log.read(TOPIC, partition, out.size(), 1000);
            if (chunk.isEmpty()) {
                return out;
            }
            chunk.forEach(r -> out.add(r.message()));
        }
    }

    private String verify() throws IOException {
        ByteArrayOutputStream text = new ByteArrayOutputStream();
        LogVerifier.verify(dir, new PrintStream(text, true, StandardCharsets.UTF_8));
        return text.toString(StandardCharsets.UTF_8);
    }

    @Test
    void shouldCutATornTailOfTheActiveSegmentAndReportWhatWasCut() throws IOException {
        writeRecords(100);
        List<Path> segs = segments(0);
        Path active = segs.get(segs.size() - 1);
        List<Long> batches = batchPositions(active);
        long lastBatch = batches.get(batches.size() - 1);
        long size = Files.size(active);
        try (FileChannel ch = FileChannel.open(active, StandardOpenOption.WRITE)) {
            ch.truncate(size - 7); // the last batch loses its last 7 bytes, as a torn write would
        }
        assertThat(verify()).contains("torn tail of " + (size - 7 - lastBatch) + " bytes");

        try (LogTransport log = LogTransport.open(settings(1))) {
            assertThat(log.events()).singleElement().satisfies(e -> {
                assertThat(e.kind()).isEqualTo(RecoveryEvent.Kind.TAIL_TRUNCATED);
                assertThat(e.file()).isEqualTo(active);
                assertThat(e.position()).isEqualTo(lastBatch);
                assertThat(e.offset()).isEqualTo(99);
                assertThat(e.bytes()).isEqualTo(size - 7 - lastBatch);
                assertThat(e.detail()).contains("torn batch");
            });
            assertThat(log.endOffset(TOPIC, 0)).isEqualTo(99);
            assertThat(readAll(log, 0)).containsExactlyElementsOf(
                    java.util.stream.IntStream.range(0, 99).mapToObj(LogCorruptionTest::record).toList());
            assertThat(log.append(TOPIC, record(99)).join().offset()).as("appends go on at the cut").isEqualTo(99);
        }
        assertThat(verify()).contains("the log is sound");
    }

    @Test
    void shouldCutGarbageAndZerosAfterTheLastBatch() throws IOException {
        writeRecords(20);
        List<Path> segs = segments(0);
        Path active = segs.get(segs.size() - 1);
        long size = Files.size(active);
        byte[] junk = new byte[300];
        new Random(3).nextBytes(junk);
        Files.write(active, junk, StandardOpenOption.APPEND);
        try (LogTransport log = LogTransport.open(settings(1))) {
            assertThat(log.events()).singleElement().satisfies(e -> {
                assertThat(e.kind()).isEqualTo(RecoveryEvent.Kind.TAIL_TRUNCATED);
                assertThat(e.bytes()).isEqualTo(300);
                assertThat(e.position()).isEqualTo(size);
            });
            assertThat(readAll(log, 0)).hasSize(20);
        }
        Files.write(active, new byte[4096], StandardOpenOption.APPEND); // a preallocated-looking tail
        try (LogTransport log = LogTransport.open(settings(1))) {
            assertThat(log.events()).singleElement().satisfies(e -> {
                assertThat(e.bytes()).isEqualTo(4096);
                assertThat(e.detail()).contains("zero bytes");
            });
            assertThat(readAll(log, 0)).hasSize(20);
        }
    }

    @Test
    void shouldCutTheActiveSegmentFromItsFirstCorruptBatch() throws IOException {
        writeRecords(100);
        List<Path> segs = segments(0);
        Path active = segs.get(segs.size() - 1);
        long activeBase = Long.parseLong(active.getFileName().toString().substring(0, 20));
        List<Long> batches = batchPositions(active);
        long victim = batches.get(1);
        long size = Files.size(active);
        flipBit(active, victim + 60, 3);
        try (LogTransport log = LogTransport.open(settings(1))) {
            assertThat(log.events()).singleElement().satisfies(e -> {
                assertThat(e.kind()).isEqualTo(RecoveryEvent.Kind.TAIL_TRUNCATED);
                assertThat(e.file()).isEqualTo(active);
                assertThat(e.position()).isEqualTo(victim);
                assertThat(e.offset()).isEqualTo(activeBase + 1);
                assertThat(e.bytes()).isEqualTo(size - victim);
                assertThat(e.detail()).contains("corrupt batch").contains("body CRC mismatch");
            });
            assertThat(Files.size(active)).isEqualTo(victim);
            assertThat(readAll(log, 0)).hasSize((int) activeBase + 1).last().isEqualTo(record((int) activeBase));
            assertThat(log.append(TOPIC, record(500)).join().offset()).isEqualTo(activeBase + 1);
        }
        assertThat(verify()).contains("the log is sound");
    }

    @Test
    void shouldReportACorruptSealedSegmentAndStopReadingBeforeIt() throws IOException {
        Victim v = writeAndPick(sealed -> 3); // well before the segment's last index entry: found when read
        Path sealed = v.segment();
        long victim = v.position();
        long firstOffset = v.offset() - 3;
        flipBit(sealed, victim + 70, 0);

        String report = verify();
        assertThat(report).contains(sealed.getFileName() + " at byte " + victim + " (offset " + (firstOffset + 3)
                + "): body CRC mismatch").contains("readers stop before this batch").contains("1 problem found");

        try (LogTransport log = LogTransport.open(settings(1))) {
            List<Message> got = readPrefix(log);
            assertThat(got).as("everything before the damage, nothing after")
                    .containsExactlyElementsOf(java.util.stream.IntStream.range(0, (int) firstOffset + 3)
                            .mapToObj(LogCorruptionTest::record).toList());
            assertThatThrownBy(() -> log.read(TOPIC, 0, firstOffset + 3, 10))
                    .isInstanceOf(CorruptLogException.class)
                    .hasMessageContaining(sealed.toString())
                    .hasMessageContaining("at byte " + victim)
                    .hasMessageContaining("offset " + (firstOffset + 3))
                    .hasMessageContaining("body CRC mismatch");
            assertThat(log.read(TOPIC, 0, firstOffset + 4, 1)).as("a reader may start after the damage explicitly")
                    .singleElement().satisfies(r -> assertThat(r.message()).isEqualTo(record((int) firstOffset + 4)));
        }
    }

    /** Byte positions the offset index of {@code log} points at. */
    private static java.util.Set<Long> indexedPositions(Path log) throws IOException {
        byte[] index = Files.readAllBytes(Path.of(log.toString().replace(".log", ".index")));
        java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(index);
        java.util.Set<Long> positions = new java.util.HashSet<>();
        for (int i = 0; i + 8 <= index.length; i += 8) {
            positions.add((long) b.getInt(i + 4));
        }
        return positions;
    }

    /**
     * The index (in the segment) of a batch of {@code sealed} such that it and the {@code following} batches after
     * it are not pointed at by the offset index, with an indexed batch before it: a reader positioned through the
     * index for an offset just after the damage starts below the damage and has to get past it.
     */
    private static int unindexedRun(Path sealed, int following) throws IOException {
        List<Long> batches = batchPositions(sealed);
        java.util.Set<Long> indexed = indexedPositions(sealed);
        assertThat(indexed).as("the test needs a sparse index in %s", sealed).isNotEmpty();
        for (int k = 2; k + following + 1 < batches.size(); k++) {
            boolean clear = true;
            for (int j = k; j <= k + following; j++) {
                clear &= !indexed.contains(batches.get(j));
            }
            if (clear && indexed.contains(batches.get(k - 1)) || clear && indexed.contains(batches.get(k - 2))) {
                return k;
            }
        }
        throw new AssertionError("no unindexed run of batches in " + sealed);
    }

    private static long baseOf(Path segment) {
        return Long.parseLong(segment.getFileName().toString().substring(0, 20));
    }

    /**
     * A batch in the middle of a sealed segment, to be damaged.
     *
     * @param segments the partition's segment files
     * @param segment  the sealed segment, the second one
     * @param batches  the byte positions of its batches (one record each)
     * @param index    the index of the batch in the segment
     * @param position its byte position
     * @param offset   its offset
     */
    private record Victim(List<Path> segments, Path segment, List<Long> batches, int index, long position,
                          long offset) {
    }

    /** Which batch of a segment to pick. */
    @FunctionalInterface
    private interface Pick {
        int at(Path segment) throws IOException;
    }

    /**
     * Writes 200 records (one batch each, in several 8 KiB segments) and picks a batch of the second segment, which
     * is sealed.
     */
    private Victim writeAndPick(Pick pick) throws IOException {
        writeRecords(200);
        List<Path> segs = segments(0);
        assertThat(segs).hasSizeGreaterThan(3);
        Path sealed = segs.get(1);
        List<Long> batches = batchPositions(sealed);
        int k = pick.at(sealed);
        return new Victim(segs, sealed, batches, k, batches.get(k), baseOf(sealed) + k);
    }

    /**
     * Writes 200 records and damages the headers (the magic: a batch's length cannot be trusted then) of
     * {@code count} consecutive batches of the second segment, which the sparse index does not point at.
     */
    private Victim damageHeaders(int count) throws IOException {
        Victim v = writeAndPick(sealed -> unindexedRun(sealed, count));
        for (int j = 0; j < count; j++) {
            flipBit(v.segment(), v.batches().get(v.index() + j) + 3, 1);
        }
        return v;
    }

    @Test
    void shouldReadEverySoundRecordAfterADamagedBatchWhenAReaderStartsRightAfterIt() throws IOException {
        long damaged = damageHeaders(1).offset();

        try (LogTransport log = LogTransport.open(settings(1))) {
            List<Message> after = new ArrayList<>();
            while (true) {
                List<LogRecord> chunk = log.read(TOPIC, 0, damaged + 1 + after.size(), 7);
                if (chunk.isEmpty()) {
                    break;
                }
                chunk.forEach(r -> after.add(r.message()));
            }
            assertThat(after).as("every record after the damaged batch, in order")
                    .containsExactlyElementsOf(java.util.stream.IntStream.range((int) damaged + 1, 200)
                            .mapToObj(LogCorruptionTest::record).toList());
        }
    }

    @Test
    void shouldNameTheDamagedBatchAndWhereReadingResumesWhenAReaderStartsInsideTheDamage() throws IOException {
        Victim d = damageHeaders(2); // two damaged headers in a row: one damaged region
        Path sealed = d.segment();
        long victim = d.position();
        long damaged = d.offset();
        long resumesAt = d.batches().get(d.index() + 2);

        try (LogTransport log = LogTransport.open(settings(1))) {
            for (long target : new long[] {damaged, damaged + 1}) {
                assertThatThrownBy(() -> log.read(TOPIC, 0, target, 10)).as("reading from %d", target)
                        .isInstanceOfSatisfying(CorruptLogException.class, e -> {
                            assertThat(e.file()).isEqualTo(sealed);
                            assertThat(e.position()).isEqualTo(victim);
                            assertThat(e.offset()).as("the damaged batch's offset, not the target").isEqualTo(damaged);
                            assertThat(e.resumeOffset()).isEqualTo(damaged + 2);
                            assertThat(e.resumePosition()).isEqualTo(resumesAt);
                        })
                        .hasMessageContaining("at byte " + victim + " (offset " + damaged + ")")
                        .hasMessageContaining("readable batches resume at offset " + (damaged + 2) + " (byte "
                                + resumesAt + " of " + sealed.getFileName() + ")");
            }
            assertThat(log.read(TOPIC, 0, damaged + 2, 1000)).hasSize(198 - (int) damaged);
        }
    }

    @Test
    void shouldNotResumeInTheActiveSegmentAtABatchLookalikeClaimingOffsetsNotYetWritten() throws IOException {
        // A payload holding a well-formed batch (both CRCs right) that claims offset 1,000,000.
        java.nio.ByteBuffer lookalike = java.nio.ByteBuffer.allocate(BatchFormat.HEADER_SIZE + 16);
        BatchFormat.writeHeader(lookalike, 0, 16, 1_000_000, 1, 1L, 1L, 0, 16);
        try (LogTransport log = LogTransport.open(settings(1))) {
            log.append(TOPIC, record(0)).join();
            log.append(TOPIC, Message.builder().id("lookalike").payload(lookalike.array()).build()).join();
            log.append(TOPIC, record(2)).join();
            Path active = segments(0).get(0);
            long damagedBatch = batchPositions(active).get(1);
            flipBit(active, damagedBatch + BatchFormat.COUNT_OFFSET, 0); // its header fails its CRC

            assertThatThrownBy(() -> log.read(TOPIC, 0, 1, 10))
                    .isInstanceOfSatisfying(CorruptLogException.class, e -> {
                        assertThat(e.offset()).isEqualTo(1);
                        assertThat(e.resumeOffset()).as("the next batch written, not the lookalike inside the damage")
                                .isEqualTo(2);
                    });
        }
    }

    @Test
    void shouldLetAGroupSkipExactlyTheDamagedBatchAndConsumeEveryOtherRecord() throws Exception {
        Victim d = damageHeaders(1);
        Path sealed = d.segment();
        long victim = d.position();
        long damaged = d.offset();

        List<Integer> handled = new CopyOnWriteArrayList<>();
        try (LogTransport log = LogTransport.open(settings(1));
             Sluice sluice = Sluice.create(log, SluiceConfig.of("log"))) {
            sluice.subscribe(TOPIC, "g", m -> handled.add(Integer.parseInt(m.header("n"))),
                    ConsumerOptions.builder().commitInterval(Duration.ofMillis(20)).build());
            await().atMost(Duration.ofSeconds(30)).until(() -> log.events().stream()
                    .anyMatch(e -> e.kind() == RecoveryEvent.Kind.SEGMENT_CORRUPT));
            RecoveryEvent event = log.events().stream().filter(e -> e.kind() == RecoveryEvent.Kind.SEGMENT_CORRUPT)
                    .findFirst().orElseThrow();
            assertThat(event.file()).isEqualTo(sealed);
            assertThat(event.position()).isEqualTo(victim);
            assertThat(event.offset()).as("the event names the damaged batch").isEqualTo(damaged);
            assertThat(event.detail()).contains("readable batches resume at offset " + (damaged + 1));
            await().atMost(Duration.ofSeconds(30)).until(() -> handled.size() == damaged);
            await().atMost(Duration.ofSeconds(30)).until(() -> log.committedOffset(TOPIC, "g", 0).orElse(-1)
                    == damaged);
        }

        try (LogTransport log = LogTransport.open(settings(1))) {
            String topic = TOPIC;
            String group = "g";
            int partition = 0;
            // --- docs/log.md: skipping exactly the damage
            long committed = log.committedOffset(topic, group, partition).orElse(0);
            try {
                log.read(topic, partition, committed, 1);
            } catch (CorruptLogException e) {
                log.seekGroup(topic, group, Map.of(partition, e.resumeOffset())); // its next members start there
            }
            // ---
            assertThat(log.committedOffset(TOPIC, "g", 0)).hasValue(damaged + 1);
            try (Sluice sluice = Sluice.create(log, SluiceConfig.of("log"))) {
                sluice.subscribe(TOPIC, "g", m -> handled.add(Integer.parseInt(m.header("n"))),
                        ConsumerOptions.builder().commitInterval(Duration.ofMillis(20)).build());
                await().atMost(Duration.ofSeconds(30)).until(() -> handled.size() == 199);
                await().atMost(Duration.ofSeconds(30)).until(() -> log.committedOffset(TOPIC, "g", 0).orElse(-1)
                        == 200);
            }
        }
        assertThat(handled.stream().sorted().toList()).as("every record but the damaged one, each once")
                .containsExactlyElementsOf(java.util.stream.IntStream.range(0, 200).filter(i -> i != damaged)
                        .boxed().toList());
    }

    @Test
    void shouldVerifyPastDamageInASealedSegmentAndSayWhereReadableBatchesResume() throws IOException {
        writeRecords(200);
        Path sealed = segments(0).get(1);
        List<Long> batches = batchPositions(sealed);
        long base = baseOf(sealed);
        flipBit(sealed, batches.get(2) + 1, 2); // a damaged header: its length cannot be trusted
        flipBit(sealed, batches.get(6) + 70, 0); // a damaged body further on: a second, separate problem

        String report = verify();
        assertThat(report).contains(sealed.getFileName() + " at byte " + batches.get(2) + " (offset " + (base + 2)
                        + "): bad magic")
                .contains("readers stop before this batch; readable batches resume at offset " + (base + 3)
                        + " (byte " + batches.get(3) + ")")
                .contains(sealed.getFileName() + " at byte " + batches.get(6) + " (offset " + (base + 6)
                        + "): body CRC mismatch")
                .contains("readable batches resume at offset " + (base + 7) + " (byte " + batches.get(7) + ")")
                .contains("2 problems found");
    }

    @Test
    void shouldReportACorruptSealedSegmentTailWhenTheLogOpens() throws IOException {
        writeRecords(200);
        Path sealed = segments(0).get(0);
        List<Long> batches = batchPositions(sealed);
        long victim = batches.get(batches.size() - 1);
        flipBit(sealed, victim + 2, 5); // in the header's magic
        long size = Files.size(sealed);
        try (LogTransport log = LogTransport.open(settings(1))) {
            assertThat(log.events()).singleElement().satisfies(e -> {
                assertThat(e.kind()).isEqualTo(RecoveryEvent.Kind.SEGMENT_CORRUPT);
                assertThat(e.file()).isEqualTo(sealed);
                assertThat(e.position()).isEqualTo(victim);
                assertThat(e.detail()).contains("sealed segment").contains("bad magic")
                        .contains("readable batches resume at offset " + baseOf(segments(0).get(1))
                                + " (the start of the next segment)");
            });
            assertThat(Files.size(sealed)).as("a sealed segment is never cut").isEqualTo(size);
            assertThat(readPrefix(log)).hasSize(batches.size() - 1);
        }
    }

    @Test
    void shouldKeepOtherPartitionsFlowingWhileADamagedPartitionStopsItsSubscription() throws Exception {
        LogSettings s = settings(3);
        int perPartition;
        try (LogTransport log = LogTransport.open(s)) {
            for (int i = 0; i < 600; i++) {
                log.append(TOPIC, record(i)).join();
            }
            perPartition = (int) log.endOffset(TOPIC, 0);
        }
        Path sealed = segments(0).get(0);
        long victim = batchPositions(sealed).get(2);
        flipBit(sealed, victim + BatchFormatOffsets.BODY + 1, 6);

        try (LogTransport log = LogTransport.open(s);
             Sluice sluice = Sluice.create(log, SluiceConfig.of("log"))) {
            List<String> all = new CopyOnWriteArrayList<>();
            sluice.subscribe(TOPIC, "readers", m -> all.add(m.header("n")),
                    ConsumerOptions.builder().commitInterval(Duration.ofMillis(20)).build());
            long others = log.endOffset(TOPIC, 1) + log.endOffset(TOPIC, 2);
            await().atMost(Duration.ofSeconds(30)).until(() -> all.size() >= others + 2);
            await().atMost(Duration.ofSeconds(30)).until(() -> log.events().stream()
                    .anyMatch(e -> e.kind() == RecoveryEvent.Kind.SEGMENT_CORRUPT));
            RecoveryEvent e = log.events().stream().filter(x -> x.kind() == RecoveryEvent.Kind.SEGMENT_CORRUPT)
                    .findFirst().orElseThrow();
            assertThat(e.partition()).isZero();
            assertThat(e.file()).isEqualTo(sealed);
            assertThat(e.offset()).isEqualTo(2);
            assertThat(all).as("partition 0 delivered offsets 0 and 1 only; partitions 1 and 2 everything")
                    .hasSize((int) others + 2);
            assertThat(perPartition).isGreaterThan(3);
            assertThat(log.committedOffset(TOPIC, "readers", 0)).hasValue(2);
        }
    }

    /** Writes a recovery point by hand, as a crash before the background flush of later segments would leave it. */
    private void setRecoveryPoint(long offset) throws IOException {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(16);
        b.putLong(0, offset).putInt(8, 0x534C5250);
        b.putInt(12, io.sluice.log.internal.BatchFormat.crc(b.array(), 0, 12));
        Files.write(partitionDir(0).resolve("recovery-point"), b.array());
        Files.write(partitionDir(0).resolve("recovery-point.2"), b.array());
    }

    @Test
    void shouldCutATornSegmentNotYetKnownForcedAndDropTheSegmentsAfterIt() throws IOException {
        writeRecords(200);
        List<Path> segs = segments(0);
        assertThat(segs).hasSizeGreaterThan(3);
        Path torn = segs.get(1);
        long tornBase = Long.parseLong(torn.getFileName().toString().substring(0, 20));
        List<Long> batches = batchPositions(torn);
        long lastBatch = batches.get(batches.size() - 1);
        setRecoveryPoint(tornBase); // segments from here on were not yet known to be on disk
        try (FileChannel ch = FileChannel.open(torn, StandardOpenOption.WRITE)) {
            ch.truncate(Files.size(torn) - 3);
        }
        assertThat(verify()).contains("torn tail of").contains("recovery cuts it on the next open");

        try (LogTransport log = LogTransport.open(settings(1))) {
            List<RecoveryEvent> events = log.events();
            assertThat(events).allSatisfy(e -> assertThat(e.kind()).isEqualTo(RecoveryEvent.Kind.TAIL_TRUNCATED));
            assertThat(events.get(0).file()).isEqualTo(torn);
            assertThat(events.get(0).position()).isEqualTo(lastBatch);
            assertThat(events).extracting(RecoveryEvent::file).containsAll(segs.subList(2, segs.size()));
            long end = tornBase + batches.size() - 1;
            assertThat(log.endOffset(TOPIC, 0)).isEqualTo(end);
            assertThat(readAll(log, 0)).hasSize((int) end);
            assertThat(log.append(TOPIC, record(0)).join().offset()).isEqualTo(end);
        }
        assertThat(segments(0)).hasSize(2);
        assertThat(verify()).contains("the log is sound");
    }

    @Test
    void shouldRebuildIndexesThatDoNotMatchTheLog() throws IOException {
        writeRecords(200);
        List<Path> segs = segments(0);
        Path sealedIndex = Path.of(segs.get(0).toString().replace(".log", ".index"));
        Path sealedTimes = Path.of(segs.get(1).toString().replace(".log", ".timeindex"));
        Path activeIndex = Path.of(segs.get(segs.size() - 1).toString().replace(".log", ".index"));
        byte[] garbage = new byte[64];
        new Random(9).nextBytes(garbage);
        Files.write(sealedIndex, garbage);
        Files.delete(sealedTimes);
        Files.write(activeIndex, garbage, StandardOpenOption.APPEND);
        assertThat(verify()).contains("offset index entry 0").contains("does not point at the start of that batch");

        try (LogTransport log = LogTransport.open(settings(1))) {
            assertThat(log.events()).extracting(RecoveryEvent::kind).containsOnly(RecoveryEvent.Kind.INDEX_REBUILT);
            assertThat(log.events()).extracting(RecoveryEvent::file)
                    .contains(sealedIndex, sealedTimes, activeIndex);
            assertThat(readAll(log, 0)).hasSize(200);
            assertThat(log.offsetForTime(TOPIC, 0, java.time.Instant.ofEpochMilli(1_700_000_000_000L + 150_000)))
                    .isEqualTo(150);
            assertThat(log.read(TOPIC, 0, 77, 1)).singleElement()
                    .satisfies(r -> assertThat(r.message()).isEqualTo(record(77)));
        }
        assertThat(verify()).contains("the log is sound");
    }

    @Test
    void shouldNeverReturnDamagedDataWhateverBitIsFlipped() throws IOException {
        writeRecords(40);
        Path pdir = partitionDir(0);
        Path copy = dir.resolveSibling(dir.getFileName() + "-pristine");
        copyTree(dir, copy);
        List<Path> files;
        try (Stream<Path> list = Files.list(pdir)) {
            files = list.filter(f -> f.toString().endsWith(".log") || f.toString().endsWith("index")).sorted()
                    .toList();
        }
        Random random = new Random(5);
        for (int trial = 0; trial < 150; trial++) {
            Path victim = files.get(random.nextInt(files.size()));
            long size = Files.size(victim);
            if (size == 0) {
                continue;
            }
            long at = (long) (random.nextDouble() * size);
            int bit = random.nextInt(8);
            flipBit(victim, at, bit);
            try (LogTransport log = LogTransport.open(settings(1))) {
                List<Message> got = readPrefix(log);
                for (int i = 0; i < got.size(); i++) {
                    assertThat(got.get(i)).as("record %d after flipping bit %d of byte %d of %s", i, bit, at,
                            victim.getFileName()).isEqualTo(record(i));
                }
                if (!victim.toString().endsWith(".log")) {
                    assertThat(got).as("a damaged index never costs data (%s byte %d)", victim.getFileName(), at)
                            .hasSize(40);
                }
            }
            deleteTree(dir);
            copyTree(copy, dir);
        }
    }

    private static List<Message> readPrefix(LogTransport log) {
        List<Message> out = new ArrayList<>();
        while (true) {
            List<LogRecord> chunk;
            try {
                chunk = log.read(TOPIC, 0, out.size(), 1000);
            } catch (CorruptLogException e) {
                return out;
            }
            if (chunk.isEmpty()) {
                return out;
            }
            chunk.forEach(r -> out.add(r.message()));
        }
    }

    private static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> all = Files.walk(from)) {
            for (Path p : all.toList()) {
                Path target = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(target);
                } else if (!p.getFileName().toString().equals(".lock")) {
                    Files.copy(p, target, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
    }

    private static void deleteTree(Path root) throws IOException {
        try (Stream<Path> all = Files.walk(root)) {
            for (Path p : all.sorted(java.util.Comparator.reverseOrder()).toList()) {
                if (!p.equals(root)) {
                    Files.delete(p);
                }
            }
        }
    }

    /** Where the body of a batch starts. */
    private static final class BatchFormatOffsets {
        static final int BODY = io.sluice.log.internal.BatchFormat.HEADER_SIZE;
    }

    @Test
    void shouldOpenWithOneCopyOfTheRecoveryPointTornAndRewriteBoth() throws IOException {
        writeRecords(200);
        long point = io.sluice.log.internal.RecoveryPoint.read(partitionDir(0));
        assertThat(point).isPositive();
        try (FileChannel ch = FileChannel.open(partitionDir(0).resolve("recovery-point"), StandardOpenOption.WRITE)) {
            ch.truncate(7); // torn
        }
        try (LogTransport log = LogTransport.open(settings(1))) {
            assertThat(log.events()).isEmpty();
            assertThat(readAll(log, 0)).hasSize(200);
        }
        assertThat(io.sluice.log.internal.RecoveryPoint.readBoth(partitionDir(0)))
                .isEqualTo(new io.sluice.log.internal.RecoveryPoint.Stored(point, 2));
    }

    @Test
    void shouldCheckEverySegmentWholeAndCutNothingSealedWhenBothRecoveryPointCopiesAreDamaged() throws IOException {
        Victim v = writeAndPick(sealed -> 1); // early, before the segment's last index entry: a tail check misses it
        List<Path> segs = v.segments();
        Path damaged = v.segment();
        long bad = v.position();
        long badOffset = v.offset();
        flipBit(damaged, bad + 60, 3);
        Files.write(partitionDir(0).resolve("recovery-point"), new byte[] {1, 2, 3});
        Files.write(partitionDir(0).resolve("recovery-point.2"), new byte[16]);
        assertThat(verify()).contains("t/0: neither copy of the recovery point can be read")
                .contains(damaged.getFileName() + " at byte " + bad + " (offset " + badOffset + "): ")
                .contains("sealed segment: readers stop before this batch");

        try (LogTransport log = LogTransport.open(settings(1))) {
            List<RecoveryEvent> events = log.events();
            assertThat(events).extracting(RecoveryEvent::kind).containsExactly(
                    RecoveryEvent.Kind.RECOVERY_POINT_LOST, RecoveryEvent.Kind.SEGMENT_CORRUPT);
            assertThat(events.get(0).detail()).isEqualTo("neither recovery-point nor recovery-point.2 can be read; "
                    + "every segment but the last is checked batch by batch as a sealed one (damage reported, not "
                    + "cut), the last is recovered as usual");
            assertThat(events.get(1).file()).isEqualTo(damaged);
            assertThat(events.get(1).position()).isEqualTo(bad);
            assertThat(events.get(1).offset()).isEqualTo(badOffset);
            assertThat(events.get(1).detail()).endsWith("; readable batches resume at offset " + (badOffset + 1)
                    + " (byte " + v.batches().get(2) + ")");
            // Nothing was cut: the segments after the damage and every record in them are still there.
            assertThat(segments(0)).isEqualTo(segs);
            assertThat(log.endOffset(TOPIC, 0)).isEqualTo(200);
            long nextBase = Long.parseLong(segs.get(2).getFileName().toString().substring(0, 20));
            assertThat(log.read(TOPIC, 0, nextBase, 1000)).hasSize((int) (200 - nextBase));
            assertThatThrownBy(() -> log.read(TOPIC, 0, badOffset, 1)).isInstanceOf(CorruptLogException.class);
        }
        assertThat(io.sluice.log.internal.RecoveryPoint.readBoth(partitionDir(0)).sound()).isEqualTo(2);
    }
}
