package io.sluice.log;

import io.sluice.config.Checks;
import io.sluice.config.ConfigException;
import io.sluice.config.ConfigSection;
import io.sluice.config.Durations;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Set;

/**
 * Settings of the embedded log, the {@code log:} section of {@code sluice.yaml}. Immutable and thread-safe;
 * {@link Builder#build()} and {@link #from(ConfigSection)} fail with {@link ConfigException} naming the
 * {@code log.*} key, echoing the value and saying what is allowed.
 *
 * <table>
 * <caption>Keys under {@code log}</caption>
 * <tr><td>dir</td><td>the log directory (default {@code sluice-data}, relative to the working directory)</td></tr>
 * <tr><td>partitions</td><td>partitions of a topic created on first use (default 4); existing topics keep theirs</td></tr>
 * <tr><td>fsync</td><td>{@code always} (default), {@code interval} or {@code never}: see {@link FsyncPolicy}</td></tr>
 * <tr><td>fsyncInterval</td><td>period of the background fsync, only with {@code fsync: interval} (default 1s)</td></tr>
 * <tr><td>segmentBytes</td><td>a segment rolls before it would grow past this (default 64MiB)</td></tr>
 * <tr><td>segmentMaxAge</td><td>a segment with records rolls once it is this old (default 7d)</td></tr>
 * <tr><td>retentionBytes</td><td>per partition: oldest segments are deleted while the rest still hold this much;
 * -1 keeps everything (default -1)</td></tr>
 * <tr><td>retentionTime</td><td>a sealed segment whose newest record is older than this is deleted; -1 keeps
 * everything (default 7d)</td></tr>
 * <tr><td>retentionCheckInterval</td><td>how often retention and age rolls are checked (default 30s)</td></tr>
 * <tr><td>maxMessageBytes</td><td>largest encoded record (id, key, value, headers) a publish may write; a larger one
 * fails, nothing is truncated (default 1MiB)</td></tr>
 * <tr><td>compression</td><td>{@code none} (default), {@code lz4} or {@code zstd}, per batch</td></tr>
 * <tr><td>indexIntervalBytes</td><td>log bytes between offset-index entries (default 4KiB)</td></tr>
 * <tr><td>writerThreads</td><td>platform threads that append and fsync; each partition is written by one of them at a
 * time (default 4)</td></tr>
 * </table>
 */
public final class LogSettings {
    static final String PREFIX = "log.";
    private static final Set<String> KEYS = Set.of("dir", "partitions", "fsync", "fsyncInterval", "segmentBytes",
            "segmentMaxAge", "retentionBytes", "retentionTime", "retentionCheckInterval", "maxMessageBytes",
            "compression", "indexIntervalBytes", "writerThreads");
    /** The largest message the format allows; batches are capped at 64 MiB. */
    public static final int MAX_MESSAGE_BYTES_LIMIT = 32 * 1024 * 1024;

    private final Path dir;
    private final int partitions;
    private final FsyncPolicy fsync;
    private final Duration fsyncInterval;
    private final long segmentBytes;
    private final Duration segmentMaxAge;
    private final long retentionBytes;
    private final Duration retentionTime;
    private final Duration retentionCheckInterval;
    private final int maxMessageBytes;
    private final Compression compression;
    private final int indexIntervalBytes;
    private final int writerThreads;

    private LogSettings(Builder b) {
        this.dir = b.dir;
        this.partitions = b.partitions;
        this.fsync = b.fsync;
        this.fsyncInterval = b.fsyncInterval == null ? Duration.ofSeconds(1) : b.fsyncInterval;
        this.segmentBytes = b.segmentBytes;
        this.segmentMaxAge = b.segmentMaxAge;
        this.retentionBytes = b.retentionBytes;
        this.retentionTime = b.retentionTime;
        this.retentionCheckInterval = b.retentionCheckInterval;
        this.maxMessageBytes = b.maxMessageBytes;
        this.compression = b.compression;
        this.indexIntervalBytes = b.indexIntervalBytes;
        this.writerThreads = b.writerThreads;
    }

    /** A builder for a log in {@code dir}, with defaults for the rest. */
    public static Builder builder(Path dir) {
        return new Builder(dir);
    }

    /** Reads and validates the {@code log} section; unknown keys are refused. */
    public static LogSettings from(ConfigSection s) {
        String dirText = s.string("dir", "sluice-data");
        Builder b = builder(Path.of(Checks.notBlank(s.key("dir"), dirText)));
        b.partitions(s.integer("partitions", b.partitions));
        b.fsync(Checks.enumValue(s.key("fsync"), FsyncPolicy.class, s.string("fsync", "always")));
        if (s.has("fsyncInterval")) {
            b.fsyncInterval(s.duration("fsyncInterval", null));
        }
        b.segmentBytes(s.bytes("segmentBytes", b.segmentBytes));
        b.segmentMaxAge(s.duration("segmentMaxAge", b.segmentMaxAge));
        b.retentionBytes(unlimitedOrBytes(s, "retentionBytes", b.retentionBytes));
        b.retentionTime(unlimitedOrDuration(s, "retentionTime", b.retentionTime));
        b.retentionCheckInterval(s.duration("retentionCheckInterval", b.retentionCheckInterval));
        long max = s.bytes("maxMessageBytes", b.maxMessageBytes);
        b.maxMessageBytes((int) Checks.longBetween(s.key("maxMessageBytes"), max, 1, MAX_MESSAGE_BYTES_LIMIT));
        b.compression(Checks.enumValue(s.key("compression"), Compression.class, s.string("compression", "none")));
        long interval = s.bytes("indexIntervalBytes", b.indexIntervalBytes);
        b.indexIntervalBytes((int) Checks.longBetween(s.key("indexIntervalBytes"), interval, 64, 16 * 1024 * 1024));
        b.writerThreads(s.integer("writerThreads", b.writerThreads));
        s.rejectUnknownKeys(KEYS);
        return b.build();
    }

    private static long unlimitedOrBytes(ConfigSection s, String name, long fallback) {
        Object raw = s.raw(name);
        if (raw == null) {
            return fallback;
        }
        if ("-1".equals(String.valueOf(raw).trim())) {
            return -1;
        }
        return s.bytes(name, fallback);
    }

    private static Duration unlimitedOrDuration(ConfigSection s, String name, Duration fallback) {
        Object raw = s.raw(name);
        if (raw == null) {
            return fallback;
        }
        if ("-1".equals(String.valueOf(raw).trim())) {
            return null;
        }
        return s.duration(name, fallback);
    }

    /** The log directory. */
    public Path dir() {
        return dir;
    }

    /** Partitions of a topic created on first use. */
    public int partitions() {
        return partitions;
    }

    public FsyncPolicy fsync() {
        return fsync;
    }

    /** Period of the background fsync under {@link FsyncPolicy#INTERVAL}. */
    public Duration fsyncInterval() {
        return fsyncInterval;
    }

    public long segmentBytes() {
        return segmentBytes;
    }

    public Duration segmentMaxAge() {
        return segmentMaxAge;
    }

    /** Bytes per partition that retention keeps, or -1 for no limit. */
    public long retentionBytes() {
        return retentionBytes;
    }

    /** Age past which a sealed segment is deleted, or null for no limit. */
    public Duration retentionTime() {
        return retentionTime;
    }

    public Duration retentionCheckInterval() {
        return retentionCheckInterval;
    }

    public int maxMessageBytes() {
        return maxMessageBytes;
    }

    public Compression compression() {
        return compression;
    }

    public int indexIntervalBytes() {
        return indexIntervalBytes;
    }

    public int writerThreads() {
        return writerThreads;
    }

    @Override
    public String toString() {
        return "LogSettings{dir=" + dir + ", partitions=" + partitions + ", fsync=" + fsync.name().toLowerCase()
                + (fsync == FsyncPolicy.INTERVAL ? ", fsyncInterval=" + Durations.format(fsyncInterval) : "")
                + ", segmentBytes=" + segmentBytes + ", segmentMaxAge=" + Durations.format(segmentMaxAge)
                + ", retentionBytes=" + retentionBytes + ", retentionTime="
                + (retentionTime == null ? "-1" : Durations.format(retentionTime))
                + ", maxMessageBytes=" + maxMessageBytes + ", compression=" + compression.name().toLowerCase() + '}';
    }

    /** Builds {@link LogSettings}; {@link #build()} validates every value. Not thread-safe. */
    public static final class Builder {
        private Path dir;
        private int partitions = 4;
        private FsyncPolicy fsync = FsyncPolicy.ALWAYS;
        private Duration fsyncInterval;
        private long segmentBytes = 64L * 1024 * 1024;
        private Duration segmentMaxAge = Duration.ofDays(7);
        private long retentionBytes = -1;
        private Duration retentionTime = Duration.ofDays(7);
        private Duration retentionCheckInterval = Duration.ofSeconds(30);
        private int maxMessageBytes = 1024 * 1024;
        private Compression compression = Compression.NONE;
        private int indexIntervalBytes = 4096;
        private int writerThreads = 4;

        private Builder(Path dir) {
            this.dir = dir;
        }

        public Builder dir(Path dir) {
            this.dir = dir;
            return this;
        }

        public Builder partitions(int partitions) {
            this.partitions = partitions;
            return this;
        }

        public Builder fsync(FsyncPolicy fsync) {
            this.fsync = fsync;
            return this;
        }

        /** Only with {@link FsyncPolicy#INTERVAL}. */
        public Builder fsyncInterval(Duration fsyncInterval) {
            this.fsyncInterval = fsyncInterval;
            return this;
        }

        public Builder segmentBytes(long segmentBytes) {
            this.segmentBytes = segmentBytes;
            return this;
        }

        public Builder segmentMaxAge(Duration segmentMaxAge) {
            this.segmentMaxAge = segmentMaxAge;
            return this;
        }

        /** -1 for no size limit. */
        public Builder retentionBytes(long retentionBytes) {
            this.retentionBytes = retentionBytes;
            return this;
        }

        /** null for no time limit. */
        public Builder retentionTime(Duration retentionTime) {
            this.retentionTime = retentionTime;
            return this;
        }

        public Builder retentionCheckInterval(Duration retentionCheckInterval) {
            this.retentionCheckInterval = retentionCheckInterval;
            return this;
        }

        public Builder maxMessageBytes(int maxMessageBytes) {
            this.maxMessageBytes = maxMessageBytes;
            return this;
        }

        public Builder compression(Compression compression) {
            this.compression = compression;
            return this;
        }

        public Builder indexIntervalBytes(int indexIntervalBytes) {
            this.indexIntervalBytes = indexIntervalBytes;
            return this;
        }

        public Builder writerThreads(int writerThreads) {
            this.writerThreads = writerThreads;
            return this;
        }

        public LogSettings build() {
            if (dir == null) {
                throw new ConfigException(PREFIX + "dir", null, "must be a directory path");
            }
            Checks.intBetween(PREFIX + "partitions", partitions, 1, 4096);
            if (fsync == null) {
                throw new ConfigException(PREFIX + "fsync", null, "must be one of always, interval, never");
            }
            if (fsyncInterval != null) {
                if (fsync != FsyncPolicy.INTERVAL) {
                    throw new ConfigException(PREFIX + "fsyncInterval", Durations.format(fsyncInterval),
                            "only applies with log.fsync: interval (log.fsync is " + fsync.name().toLowerCase() + ")");
                }
                Checks.durationBetween(PREFIX + "fsyncInterval", fsyncInterval, Duration.ofMillis(1),
                        Duration.ofHours(1));
            }
            Checks.longBetween(PREFIX + "segmentBytes", segmentBytes, 1024, 1024L * 1024 * 1024);
            Checks.durationBetween(PREFIX + "segmentMaxAge", segmentMaxAge, Duration.ofMillis(10),
                    Duration.ofDays(3650));
            if (retentionBytes != -1) {
                Checks.longBetween(PREFIX + "retentionBytes", retentionBytes, 1, Long.MAX_VALUE);
            }
            if (retentionTime != null) {
                Checks.durationBetween(PREFIX + "retentionTime", retentionTime, Duration.ofMillis(1),
                        Duration.ofDays(365 * 100L));
            }
            Checks.durationBetween(PREFIX + "retentionCheckInterval", retentionCheckInterval, Duration.ofMillis(10),
                    Duration.ofDays(1));
            Checks.intBetween(PREFIX + "maxMessageBytes", maxMessageBytes, 1, MAX_MESSAGE_BYTES_LIMIT);
            if (compression == null) {
                throw new ConfigException(PREFIX + "compression", null, "must be one of none, lz4, zstd");
            }
            Checks.intBetween(PREFIX + "indexIntervalBytes", indexIntervalBytes, 64, 16 * 1024 * 1024);
            Checks.intBetween(PREFIX + "writerThreads", writerThreads, 1, 256);
            return new LogSettings(this);
        }
    }
}
