package io.sluice.log.internal;

import io.sluice.log.ObservedFileIo;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/** The group offset journal's compaction: a rename made durable before the commit that triggered it completes. */
class GroupOffsetsTest {
    @TempDir
    Path dir;

    @Test
    void shouldForceTheGroupsDirectoryAfterCompactingTheJournalBeforeTheCommitCompletes() throws Exception {
        ObservedFileIo io = new ObservedFileIo();
        Files.createDirectories(dir.resolve("orders")); // the topic's directory, made durable by the topic
        Path file = dir.resolve("orders").resolve("groups").resolve("billing.offsets");
        GroupOffsets offsets = GroupOffsets.create("orders", "billing", file, 1, io);
        int n = 5000; // more commit records than the journal keeps before compacting
        int[] partitions = new int[n];
        long[] values = new long[n];
        for (int i = 0; i < n; i++) {
            values[i] = i;
        }
        try (OffsetStore store = new OffsetStore("test-offsets")) {
            store.commit(offsets, partitions, values).get(30, TimeUnit.SECONDS);
            List<String> names = io.events.stream().map(e -> e.substring(e.indexOf(' ') + 1)).toList();
            int renamed = -1;
            for (int i = 0; i < names.size(); i++) {
                if (names.get(i).startsWith("replace ") && names.get(i).endsWith(" -> " + file.toAbsolutePath())) {
                    renamed = i;
                }
            }
            assertThat(renamed).as("the journal was compacted: %s", names).isNotNegative();
            assertThat(names.subList(renamed + 1, names.size())).contains("forceDir " + file.getParent()
                    .toAbsolutePath());
            assertThat(io.entryDurable(file)).isTrue();
        }
        assertThat(Files.size(file)).isEqualTo(GroupOffsets.RECORD);
        assertThat(GroupOffsets.load("orders", "billing", file, 1).committed(0)).isEqualTo(n - 1);
    }
}
