package io.sluice.log.internal;

import io.sluice.Message;
import io.sluice.log.LogSettings;
import io.sluice.log.RecoveryEvent;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;

/** A group's reader whose segment retention deletes under it moves to the log start and reports the skip. */
class PartitionCursorTest {
    @TempDir
    Path dir;

    @Test
    void shouldReportTheSkipWhenRetentionDeletesTheSegmentAReaderIsIn() throws Exception {
        LogSettings settings = LogSettings.builder(dir).partitions(1).segmentBytes(2048).retentionBytes(4000)
                .retentionCheckInterval(Duration.ofHours(1)).build();
        try (LogStore store = LogStore.open(settings)) {
            for (int i = 0; i < 100; i++) {
                store.send("t", Message.of(("record " + i + " ").repeat(10).getBytes(StandardCharsets.UTF_8)))
                        .join();
            }
            PartitionLog partition = store.topic("t").partitions()[0];
            PartitionCursor reader = new PartitionCursor(partition, 0, "group billing");
            BatchDecoder decoder = new BatchDecoder();
            assertThat(reader.fill(decoder)).isTrue();
            reader.next();
            assertThat(reader.nextOffset()).isEqualTo(1);
            while (reader.hasPending()) {
                reader.next(); // the rest of the batch it had decoded
            }
            long at = reader.nextOffset();
            store.enforceRetention();
            long start = partition.logStartOffset();
            assertThat(start).isGreaterThan(at);

            assertThat(reader.fill(decoder)).isTrue();
            assertThat(reader.nextOffset()).isEqualTo(start);
            assertThat(store.events()).singleElement().satisfies(e -> {
                assertThat(e.kind()).isEqualTo(RecoveryEvent.Kind.RETENTION_SKIPPED);
                assertThat(e.detail()).isEqualTo("group billing was at offset " + at + " but retention deleted "
                        + "offsets " + at + ".." + (start - 1) + " before it read them; it continues at " + start);
            });
            assertThat(store.stats().recordsSkippedByRetention()).isEqualTo(start - at);
        }
    }
}
