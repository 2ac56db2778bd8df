package io.sluice.log;

import io.sluice.Message;
import io.sluice.Receipt;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

import static org.assertj.core.api.Assertions.assertThat;

/** Records of every shape go in and come out byte-exact, with each codec, across a close and reopen. */
class LogRoundTripTest {
    @TempDir
    Path dir;

    @ParameterizedTest
    @EnumSource(Compression.class)
    void shouldReadBackEveryRecordByteExactAfterReopen(Compression compression) {
        LogSettings settings = LogSettings.builder(dir).partitions(1).compression(compression)
                .segmentBytes(64 * 1024).indexIntervalBytes(256).build();
        int n = 3000;
        try (LogTransport log = LogTransport.open(settings)) {
            List<CompletableFuture<Receipt>> acks = new ArrayList<>();
            for (long seq = 0; seq < n; seq++) {
                acks.add(log.append("t", CrashWorkload.record(seq)));
            }
            for (int i = 0; i < n; i++) {
                assertThat(acks.get(i).join().offset()).isEqualTo(i);
            }
            assertRecords(log, n);
        }
        try (LogTransport log = LogTransport.open(settings)) {
            assertThat(log.events()).isEmpty();
            assertRecords(log, n);
        }
    }

    private static void assertRecords(LogTransport log, int n) {
        List<LogRecord> all = new ArrayList<>();
        while (all.size() < n) {
            List<LogRecord> chunk = log.read("t", 0, all.size(), 1000);
            assertThat(chunk).isNotEmpty();
            all.addAll(chunk);
        }
        for (int i = 0; i < n; i++) {
            Message expected = CrashWorkload.record(i);
            assertThat(all.get(i).offset()).isEqualTo(i);
            assertThat(all.get(i).message()).isEqualTo(expected);
        }
    }
}
