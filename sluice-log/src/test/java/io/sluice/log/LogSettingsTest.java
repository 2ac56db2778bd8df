package io.sluice.log;

import io.sluice.Sluice;
import io.sluice.config.ConfigException;
import io.sluice.config.ConfigSection;
import io.sluice.config.SluiceConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Every {@code log.*} key is validated before the directory is touched, naming the key and echoing the value. */
class LogSettingsTest {
    @TempDir
    Path dir;

    private LogSettings parse(Map<String, Object> values) {
        Map<String, Object> all = new HashMap<>(values);
        all.putIfAbsent("dir", dir.resolve("log").toString());
        return LogSettings.from(new ConfigSection("log", all));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "partitions|0|Invalid value 0 for configuration log.partitions: must be between 1 and 4096",
            "fsync|sometimes|Invalid value 'sometimes' for configuration log.fsync: must be one of always, interval, never",
            "segmentBytes|100|Invalid value 100 for configuration log.segmentBytes: must be between 1024 and 1073741824",
            "segmentBytes|lots|Invalid value 'lots' for configuration log.segmentBytes: must be a size in bytes, such as 1048576, 512KiB, 64MiB or 1GB",
            "segmentMaxAge|5ms|Invalid value '5ms' for configuration log.segmentMaxAge: must be between 10ms and 87600h",
            "retentionBytes|0|Invalid value 0 for configuration log.retentionBytes: must be between 1 and 9223372036854775807",
            "retentionTime|soon|Invalid value 'soon' for configuration log.retentionTime: must be a duration with a unit, such as 250ms, 5s, 2m, 1h or PT5S",
            "maxMessageBytes|64MiB|Invalid value 67108864 for configuration log.maxMessageBytes: must be between 1 and 33554432",
            "compression|gzip|Invalid value 'gzip' for configuration log.compression: must be one of none, lz4, zstd",
            "indexIntervalBytes|8|Invalid value 8 for configuration log.indexIntervalBytes: must be between 64 and 16777216",
            "writerThreads|0|Invalid value 0 for configuration log.writerThreads: must be between 1 and 256",
            "retentionCheckInterval|1ms|Invalid value '1ms' for configuration log.retentionCheckInterval: must be between 10ms and 24h",
    })
    void shouldRejectAnInvalidValueNamingItsKey(String key, String value, String message) {
        assertThatThrownBy(() -> parse(Map.of(key, value)))
                .isInstanceOf(ConfigException.class)
                .hasMessage(message)
                .satisfies(e -> assertThat(((ConfigException) e).key()).isEqualTo("log." + key));
        assertThat(Files.exists(dir.resolve("log"))).as("nothing created for an invalid configuration").isFalse();
    }

    @Test
    void shouldRejectFsyncIntervalUnlessThePolicyIsInterval() {
        assertThatThrownBy(() -> parse(Map.of("fsyncInterval", "100ms")))
                .isInstanceOf(ConfigException.class)
                .hasMessage("Invalid value '100ms' for configuration log.fsyncInterval: only applies with log.fsync: "
                        + "interval (log.fsync is always)");
        assertThat(parse(Map.of("fsync", "interval", "fsyncInterval", "100ms")).fsyncInterval())
                .isEqualTo(Duration.ofMillis(100));
    }

    @Test
    void shouldRejectAnUnknownKeyListingTheKnownOnes() {
        assertThatThrownBy(() -> parse(Map.of("segmentSize", "1MiB")))
                .isInstanceOf(ConfigException.class)
                .hasMessageStartingWith("Unknown configuration key log.segmentSize; known keys here: compression, dir, "
                        + "fsync, fsyncInterval, indexIntervalBytes, maxMessageBytes, partitions, retentionBytes, "
                        + "retentionCheckInterval, retentionTime, segmentBytes, segmentMaxAge, writerThreads");
    }

    @Test
    void shouldReadEveryKeyAndDefaultTheRest() {
        LogSettings s = parse(Map.of("partitions", 6, "fsync", "never", "segmentBytes", "16MiB",
                "segmentMaxAge", "1h", "retentionBytes", "1GiB", "retentionTime", "-1", "maxMessageBytes", "2MiB",
                "compression", "zstd"));
        assertThat(s.partitions()).isEqualTo(6);
        assertThat(s.fsync()).isEqualTo(FsyncPolicy.NEVER);
        assertThat(s.segmentBytes()).isEqualTo(16L << 20);
        assertThat(s.segmentMaxAge()).isEqualTo(Duration.ofHours(1));
        assertThat(s.retentionBytes()).isEqualTo(1L << 30);
        assertThat(s.retentionTime()).isNull();
        assertThat(s.maxMessageBytes()).isEqualTo(2 << 20);
        assertThat(s.compression()).isEqualTo(Compression.ZSTD);
        LogSettings d = LogSettings.from(ConfigSection.empty("log"));
        assertThat(d.dir()).isEqualTo(Path.of("sluice-data"));
        assertThat(d.fsync()).isEqualTo(FsyncPolicy.ALWAYS);
        assertThat(d.partitions()).isEqualTo(4);
        assertThat(d.maxMessageBytes()).isEqualTo(1 << 20);
        assertThat(d.retentionBytes()).isEqualTo(-1);
        assertThat(d.retentionTime()).isEqualTo(Duration.ofDays(7));
    }

    @Test
    void shouldOpenTheLogFromSluiceYaml() {
        String yaml = "transport: log\nlog:\n  dir: " + dir.resolve("yaml-log") + "\n  partitions: 2\n"
                + "  fsync: interval\n  fsyncInterval: 50ms\n";
        try (Sluice sluice = Sluice.create(SluiceConfig.parse(yaml, "test.yaml"))) {
            assertThat(sluice.transport()).isInstanceOf(LogTransport.class);
            LogTransport log = (LogTransport) sluice.transport();
            assertThat(log.settings().fsync()).isEqualTo(FsyncPolicy.INTERVAL);
            assertThat(log.partitions("x")).isEqualTo(2);
            assertThat(sluice.transport().capabilities().durable()).isTrue();
        }
        assertThat(Files.isDirectory(dir.resolve("yaml-log").resolve("x"))).isTrue();
    }
}
