package io.sluice.redis;

import io.sluice.config.Checks;
import io.sluice.config.ConfigException;
import io.sluice.config.ConfigSection;
import io.sluice.config.Durations;

import java.net.URI;
import java.time.Duration;
import java.util.Set;

/**
 * Settings of the {@code redis} transport, validated when built: an invalid value fails with a
 * {@link ConfigException} naming the key ({@code redis.partitions}) and the value. The password is kept as a char
 * array and never appears in {@link #toString()}.
 *
 * <pre>{@code
 * redis:
 *   uri: redis://127.0.0.1:6379   # or host: and port:; rediss:// turns TLS on
 *   database: 0
 *   user: app                     # ACL user (Redis 6+); leave out for the default user
 *   password: secret
 *   tls: false
 *   tlsCaFile: /etc/ssl/redis-ca.pem   # PEM CA certificate(s) to trust; the JDK's trust store when left out
 *   partitions: 4                 # streams per topic; every client of a topic must agree
 *   keyPrefix: "sluice:"
 *   maxLen: 0                     # XADD MAXLEN ~ n; 0 keeps everything (trimming can remove unread messages)
 *   maxAge: 0s                    # or XADD MINID ~ (now - maxAge); 0s keeps everything; not both
 *   claimIdle: 30s                # a dead member's pending messages are claimed once idle this long
 *   maxDeliveries: 10             # claimed after this many deliveries without an outcome: dead-lettered
 *   sessionTimeout: 10s           # a member that stops heartbeating is gone, and its leases free, after this
 *   heartbeatInterval: 1s
 *   blockTime: 200ms              # XREADGROUP BLOCK of one read
 *   commandTimeout: 10s
 * }</pre>
 *
 * <p>Immutable and thread-safe.
 */
public final class RedisSettings {
    private static final Set<String> KEYS = Set.of("uri", "host", "port", "database", "user", "password", "tls", "tlsCaFile",
            "partitions", "keyPrefix", "maxLen", "maxAge", "claimIdle", "maxDeliveries", "sessionTimeout", "heartbeatInterval", "blockTime",
            "commandTimeout");

    private final String host;
    private final int port;
    private final int database;
    private final String user;
    private final char[] password;
    private final boolean tls;
    private final java.nio.file.Path tlsCaFile;
    private final int partitions;
    private final String keyPrefix;
    private final long maxLen;
    private final Duration maxAge;
    private final Duration claimIdle;
    private final int maxDeliveries;
    private final Duration sessionTimeout;
    private final Duration heartbeatInterval;
    private final Duration blockTime;
    private final Duration commandTimeout;

    private RedisSettings(Builder b) {
        this.host = Checks.notBlank("redis.host", b.host);
        this.port = Checks.intBetween("redis.port", b.port, 1, 65535);
        this.database = Checks.intBetween("redis.database", b.database, 0, 65535);
        this.user = b.user;
        this.password = b.password == null ? null : b.password.clone();
        this.tls = b.tls || b.tlsCaFile != null;
        this.tlsCaFile = b.tlsCaFile;
        if (tlsCaFile != null && !java.nio.file.Files.isReadable(tlsCaFile)) {
            throw new ConfigException("redis.tlsCaFile", tlsCaFile.toString(), "must be a readable PEM file");
        }
        this.partitions = Checks.intBetween("redis.partitions", b.partitions, 1, 4096);
        this.keyPrefix = b.keyPrefix == null ? "" : b.keyPrefix;
        this.maxLen = Checks.longBetween("redis.maxLen", b.maxLen, 0, Long.MAX_VALUE);
        this.maxAge = Checks.durationBetween("redis.maxAge", b.maxAge, Duration.ZERO, Duration.ofDays(3650));
        if (maxLen > 0 && !maxAge.isZero()) {
            throw new ConfigException("redis.maxAge", Durations.format(maxAge),
                    "cannot be combined with redis.maxLen (" + maxLen + "): XADD trims by one of them");
        }
        this.claimIdle = Checks.durationBetween("redis.claimIdle", b.claimIdle, Duration.ofMillis(1),
                Duration.ofDays(7));
        this.maxDeliveries = Checks.intBetween("redis.maxDeliveries", b.maxDeliveries, 0, 1_000_000);
        this.sessionTimeout = Checks.durationBetween("redis.sessionTimeout", b.sessionTimeout, Duration.ofMillis(100),
                Duration.ofHours(1));
        this.heartbeatInterval = Checks.durationBetween("redis.heartbeatInterval", b.heartbeatInterval,
                Duration.ofMillis(10), Duration.ofMinutes(10));
        this.blockTime = Checks.durationBetween("redis.blockTime", b.blockTime, Duration.ofMillis(1),
                Duration.ofMinutes(1));
        this.commandTimeout = Checks.durationBetween("redis.commandTimeout", b.commandTimeout, Duration.ofMillis(10),
                Duration.ofMinutes(10));
        if (heartbeatInterval.multipliedBy(2).compareTo(sessionTimeout) > 0) {
            throw new ConfigException("redis.heartbeatInterval", Durations.format(heartbeatInterval),
                    "must be at most half of redis.sessionTimeout (" + Durations.format(sessionTimeout)
                            + "), so one lost heartbeat does not end a membership");
        }
        if (password != null && password.length == 0) {
            throw new ConfigException("redis.password", "(empty)", "must not be empty; leave it out for no password");
        }
        if (user != null && password == null) {
            throw new ConfigException("redis.user", user, "needs redis.password");
        }
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Reads the {@code redis:} section, rejecting unknown keys. */
    public static RedisSettings from(ConfigSection s) {
        Builder b = builder();
        String uri = s.string("uri", null);
        if (uri != null) {
            b.uri(s.key("uri"), uri);
        }
        b.host = s.string("host", b.host);
        b.port = s.integer("port", b.port);
        b.database = s.integer("database", b.database);
        String user = s.string("user", null);
        b.user = user == null || user.isBlank() ? b.user : user;
        String password = s.string("password", null);
        if (password != null) {
            b.password = password.toCharArray();
        }
        b.tls = s.bool("tls", b.tls);
        String ca = s.string("tlsCaFile", null);
        if (ca != null) {
            b.tlsCaFile = java.nio.file.Path.of(ca);
        }
        b.partitions = s.integer("partitions", b.partitions);
        b.keyPrefix = s.string("keyPrefix", b.keyPrefix);
        b.maxLen = s.longValue("maxLen", b.maxLen);
        b.maxAge = s.duration("maxAge", b.maxAge);
        b.claimIdle = s.duration("claimIdle", b.claimIdle);
        b.maxDeliveries = s.integer("maxDeliveries", b.maxDeliveries);
        b.sessionTimeout = s.duration("sessionTimeout", b.sessionTimeout);
        b.heartbeatInterval = s.duration("heartbeatInterval", b.heartbeatInterval);
        b.blockTime = s.duration("blockTime", b.blockTime);
        b.commandTimeout = s.duration("commandTimeout", b.commandTimeout);
        s.rejectUnknownKeys(KEYS);
        return b.build();
    }

    public String host() {
        return host;
    }

    public int port() {
        return port;
    }

    public int database() {
        return database;
    }

    /** The ACL user, or null for the default user. */
    public String user() {
        return user;
    }

    /** A copy of the password, or null; the caller should clear it after use. */
    char[] password() {
        return password == null ? null : password.clone();
    }

    public boolean tls() {
        return tls;
    }

    /** The PEM CA certificate(s) a TLS connection trusts, or null for the JDK's default trust store. */
    public java.nio.file.Path tlsCaFile() {
        return tlsCaFile;
    }

    /** Partition streams per topic. */
    public int partitions() {
        return partitions;
    }

    public String keyPrefix() {
        return keyPrefix;
    }

    /** {@code XADD MAXLEN ~} of each partition stream; 0 for no trimming. */
    public long maxLen() {
        return maxLen;
    }

    /** {@code XADD MINID ~} of entries older than this (publisher's clock); zero for no trimming by age. */
    public Duration maxAge() {
        return maxAge;
    }

    public Duration claimIdle() {
        return claimIdle;
    }

    /**
     * A pending entry found delivered this many times without an outcome (each consumer that took it crashed, hung
     * or was abandoned) is dead-lettered instead of delivered again; 0 never does.
     */
    public int maxDeliveries() {
        return maxDeliveries;
    }

    public Duration sessionTimeout() {
        return sessionTimeout;
    }

    public Duration heartbeatInterval() {
        return heartbeatInterval;
    }

    public Duration blockTime() {
        return blockTime;
    }

    public Duration commandTimeout() {
        return commandTimeout;
    }

    @Override
    public String toString() {
        return "RedisSettings{" + (tls ? "rediss://" : "redis://") + host + ":" + port + "/" + database
                + (tlsCaFile != null ? ", tlsCaFile=" + tlsCaFile : "") + ", auth=" + (password == null ? "none" : (user == null ? "default" : user) + "(****)")
                + ", partitions=" + partitions + ", keyPrefix=" + keyPrefix + ", maxLen=" + maxLen + ", maxAge=" + Durations.format(maxAge)
                + ", claimIdle=" + Durations.format(claimIdle) + ", maxDeliveries=" + maxDeliveries + ", sessionTimeout=" + Durations.format(sessionTimeout)
                + ", heartbeatInterval=" + Durations.format(heartbeatInterval) + ", blockTime="
                + Durations.format(blockTime) + ", commandTimeout=" + Durations.format(commandTimeout) + '}';
    }

    /** Builds {@link RedisSettings}; validation happens in {@link #build()}. Not thread-safe. */
    public static final class Builder {
        private String host = "127.0.0.1";
        private int port = 6379;
        private int database;
        private String user;
        private char[] password;
        private boolean tls;
        private java.nio.file.Path tlsCaFile;
        private int partitions = 4;
        private String keyPrefix = "sluice:";
        private long maxLen;
        private Duration maxAge = Duration.ZERO;
        private Duration claimIdle = Duration.ofSeconds(30);
        private int maxDeliveries = 10;
        private Duration sessionTimeout = Duration.ofSeconds(10);
        private Duration heartbeatInterval = Duration.ofSeconds(1);
        private Duration blockTime = Duration.ofMillis(200);
        private Duration commandTimeout = Duration.ofSeconds(10);

        private Builder() {
        }

        /** {@code redis://host:port/db} or {@code rediss://...} (TLS); credentials do not belong in the URI. */
        public Builder uri(String uri) {
            return uri("redis.uri", uri);
        }

        private Builder uri(String key, String text) {
            URI u;
            try {
                u = URI.create(text.trim());
            } catch (IllegalArgumentException e) {
                throw new ConfigException(key, text, "must be a URI such as redis://127.0.0.1:6379/0");
            }
            String scheme = u.getScheme();
            if (!"redis".equals(scheme) && !"rediss".equals(scheme) || u.getHost() == null) {
                throw new ConfigException(key, text, "must be a URI such as redis://127.0.0.1:6379/0 or rediss://...");
            }
            if (u.getUserInfo() != null) {
                throw new ConfigException(key, "(a URI with credentials)",
                        "must not hold credentials; use redis.user and redis.password");
            }
            host = u.getHost();
            port = u.getPort() < 0 ? 6379 : u.getPort();
            tls = "rediss".equals(scheme);
            String path = u.getPath();
            if (path != null && path.length() > 1) {
                try {
                    database = Integer.parseInt(path.substring(1));
                } catch (NumberFormatException e) {
                    throw new ConfigException(key, text, "the path must be a database number, such as /0");
                }
            }
            return this;
        }

        public Builder host(String host) {
            this.host = host;
            return this;
        }

        public Builder port(int port) {
            this.port = port;
            return this;
        }

        public Builder database(int database) {
            this.database = database;
            return this;
        }

        /** Logs in as {@code user} (null: the default user) with {@code password}. */
        public Builder credentials(String user, char[] password) {
            this.user = user;
            this.password = password == null ? null : password.clone();
            return this;
        }

        public Builder tls(boolean tls) {
            this.tls = tls;
            return this;
        }

        /** TLS, trusting the CA certificate(s) in this PEM file. */
        public Builder tlsCaFile(java.nio.file.Path caFile) {
            this.tlsCaFile = caFile;
            return this;
        }

        public Builder partitions(int partitions) {
            this.partitions = partitions;
            return this;
        }

        public Builder keyPrefix(String keyPrefix) {
            this.keyPrefix = keyPrefix;
            return this;
        }

        public Builder maxLen(long maxLen) {
            this.maxLen = maxLen;
            return this;
        }

        public Builder maxAge(Duration maxAge) {
            this.maxAge = maxAge;
            return this;
        }

        public Builder claimIdle(Duration claimIdle) {
            this.claimIdle = claimIdle;
            return this;
        }

        /** Dead-letter a pending entry delivered this many times without an outcome; 0: never. */
        public Builder maxDeliveries(int maxDeliveries) {
            this.maxDeliveries = maxDeliveries;
            return this;
        }

        /** How often a member heartbeats, and after how long without one it is gone. */
        public Builder group(Duration heartbeatInterval, Duration sessionTimeout) {
            this.heartbeatInterval = heartbeatInterval;
            this.sessionTimeout = sessionTimeout;
            return this;
        }

        public Builder blockTime(Duration blockTime) {
            this.blockTime = blockTime;
            return this;
        }

        public Builder commandTimeout(Duration commandTimeout) {
            this.commandTimeout = commandTimeout;
            return this;
        }

        public RedisSettings build() {
            return new RedisSettings(this);
        }
    }
}
