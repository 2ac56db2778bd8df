package io.sluice.log;

import io.sluice.Message;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Committed group offsets survive an OS crash once their future completed: the journal is forced, and so are the
 * directory entries that lead to it ({@code groups/} in the topic directory, the journal in {@code groups/}).
 */
class LogGroupOffsetsTest {
    @TempDir
    Path dir;

    private final ObservedFileIo io = new ObservedFileIo();

    private LogSettings settings() {
        return LogSettings.builder(dir).partitions(2).build();
    }

    private Path journal(String group) {
        return dir.resolve("orders").resolve("groups").resolve(group + ".offsets");
    }

    /** Ten records in each partition, so that the offsets committed below lie inside the log. */
    private static void publish(LogTransport log) {
        for (int i = 0; i < 20; i++) {
            log.append("orders", Message.of(new byte[] {(byte) i})).join();
        }
        assertThat(log.endOffset("orders", 0)).isEqualTo(10);
    }

    @Test
    void shouldForceTheJournalAndEveryDirectoryEntryLeadingToItBeforeACommitCompletes() {
        try (LogTransport log = LogTransport.open(settings(), io)) {
            publish(log);
            log.seekGroup("orders", "billing", Map.of(0, 5L, 1, 7L)); // returns when the commit's future completed
            assertThat(io.forces(journal("billing"))).isPositive();
            assertThat(io.entryDurable(journal("billing"))).as("journal, groups/ and topic entries forced").isTrue();
        }
        try (LogTransport log = LogTransport.open(settings())) {
            assertThat(log.committedOffset("orders", "billing", 0)).hasValue(5);
            assertThat(log.committedOffset("orders", "billing", 1)).hasValue(7);
        }
    }

    @Test
    void shouldFailACommitWhoseDirectoryCannotBeForcedAndRewriteTheJournalOnTheNext() {
        Path groups = dir.resolve("orders").resolve("groups");
        try (LogTransport log = LogTransport.open(settings(), io)) {
            publish(log);
            io.failDirectoryForces(groups);
            assertThatThrownBy(() -> log.seekGroup("orders", "billing", Map.of(0, 5L)))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageStartingWith("storing offsets of group billing failed: ")
                    .hasMessageContaining("injected: fsync of directory " + groups.toAbsolutePath() + " failed");
            io.allowDirectoryForces(groups);
            log.seekGroup("orders", "billing", Map.of(1, 9L));
            assertThat(io.events).anyMatch(e -> e.contains("replace ") && e.endsWith(journal("billing")
                    .toAbsolutePath().normalize().toString()));
            assertThat(io.entryDurable(journal("billing"))).isTrue();
        }
        try (LogTransport log = LogTransport.open(settings())) {
            // The failed commit was kept in memory and rewritten with the next one: both are stored now.
            assertThat(log.committedOffset("orders", "billing", 0)).hasValue(5);
            assertThat(log.committedOffset("orders", "billing", 1)).hasValue(9);
        }
    }
}
