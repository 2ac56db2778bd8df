package io.sluice.nats;

import io.sluice.config.Checks;
import io.sluice.config.ConfigException;
import io.sluice.config.ConfigSection;
import io.sluice.config.Durations;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * The validated {@code nats:} section of {@code sluice.yaml}. Every key is checked when the transport is created;
 * a bad value fails with {@link ConfigException} naming {@code nats.<key>}. Immutable and thread-safe. Passwords and
 * tokens are kept as char arrays and never appear in {@link #toString()}.
 *
 * <pre>{@code
 * nats:
 *   servers: [nats://127.0.0.1:4222]
 *   mode: jetstream            # or core (at-most-once)
 *   user: app                  # or token: ...
 *   password: secret
 *   connectTimeout: 5s
 *   reconnect: {maxReconnects: -1, wait: 250ms, jitter: 100ms, bufferSize: 8MiB}
 *   tls: {trustStore: ca.p12, trustStorePassword: changeit}
 *   stream: {partitions: 3, storage: file, retention: limits, maxAge: 0s, maxBytes: -1, duplicateWindow: 2m}
 *   consumer: {ackWait: 30s, maxAckPending: 0, pullExpiry: 1s, maxBatch: 256}
 *   group: {heartbeatInterval: 1s, sessionTimeout: 10s, bucket: sluice_groups}
 *   publish: {maxPendingAcks: 4096, ackTimeout: 5s}
 *   core: {maxBufferedMessages: 65536, maxBufferedBytes: 64MiB}
 * }</pre>
 */
public final class NatsSettings {
    /** Which NATS API the transport uses. */
    public enum Mode {
        /** Durable streams, at-least-once consumer groups (the default). */
        JETSTREAM,
        /** Plain NATS subjects: at-most-once fire-and-forget, queue groups, request/reply. */
        CORE
    }

    /** JetStream stream storage. */
    public enum Storage { FILE, MEMORY }

    /** JetStream stream retention. */
    public enum Retention { LIMITS, INTEREST, WORKQUEUE }

    private static final Set<String> KEYS = Set.of("servers", "mode", "user", "password", "token", "connectTimeout",
            "connectionName", "reconnect", "tls", "stream", "consumer", "group", "publish", "core");

    final List<String> servers;
    final Mode mode;
    final String user;
    final char[] password;
    final char[] token;
    final Duration connectTimeout;
    final String connectionName;
    // reconnect
    final int maxReconnects;
    final Duration reconnectWait;
    final Duration reconnectJitter;
    final long reconnectBufferBytes;
    // tls
    final Path trustStore;
    final char[] trustStorePassword;
    final Path keyStore;
    final char[] keyStorePassword;
    // stream
    final int partitions;
    final Storage storage;
    final Retention retention;
    final Duration maxAge;
    final long maxBytes;
    final Duration duplicateWindow;
    // consumer
    final Duration ackWait;
    final int maxAckPending;
    final Duration pullExpiry;
    final int maxBatch;
    // group
    final Duration heartbeatInterval;
    final Duration sessionTimeout;
    final String groupBucket;
    // publish
    final int maxPendingAcks;
    final Duration publishAckTimeout;
    // core
    final int coreMaxBuffered;
    final long coreMaxBufferedBytes;

    private NatsSettings(Builder b) {
        servers = List.copyOf(b.servers);
        mode = b.mode;
        user = b.user;
        password = b.password;
        token = b.token;
        connectTimeout = b.connectTimeout;
        connectionName = b.connectionName;
        maxReconnects = b.maxReconnects;
        reconnectWait = b.reconnectWait;
        reconnectJitter = b.reconnectJitter;
        reconnectBufferBytes = b.reconnectBufferBytes;
        trustStore = b.trustStore;
        trustStorePassword = b.trustStorePassword;
        keyStore = b.keyStore;
        keyStorePassword = b.keyStorePassword;
        partitions = b.partitions;
        storage = b.storage;
        retention = b.retention;
        maxAge = b.maxAge;
        maxBytes = b.maxBytes;
        duplicateWindow = b.duplicateWindow;
        ackWait = b.ackWait;
        maxAckPending = b.maxAckPending;
        pullExpiry = b.pullExpiry;
        maxBatch = b.maxBatch;
        heartbeatInterval = b.heartbeatInterval;
        sessionTimeout = b.sessionTimeout;
        groupBucket = b.groupBucket;
        maxPendingAcks = b.maxPendingAcks;
        publishAckTimeout = b.publishAckTimeout;
        coreMaxBuffered = b.coreMaxBuffered;
        coreMaxBufferedBytes = b.coreMaxBufferedBytes;
    }

    /** A builder with the defaults of the table in docs/nats.md. */
    public static Builder builder() {
        return new Builder();
    }

    /** Binds and validates the {@code nats} section; unknown keys fail. */
    public static NatsSettings from(ConfigSection s) {
        Builder b = builder();
        Object servers = s.raw("servers");
        if (servers instanceof List<?>) {
            b.servers(s.strings("servers"));
        } else if (servers != null) {
            b.servers(List.of(String.valueOf(servers).split("\\s*,\\s*")));
        }
        b.mode = Checks.enumValue(s.key("mode"), Mode.class, s.string("mode", "jetstream"));
        b.user = blankToNull(s.string("user", null));
        String password = s.string("password", null);
        b.password = password == null ? null : password.toCharArray();
        String token = s.string("token", null);
        b.token = token == null ? null : token.toCharArray();
        b.connectTimeout = s.duration("connectTimeout", b.connectTimeout);
        b.connectionName = s.string("connectionName", null);

        ConfigSection r = s.section("reconnect");
        b.maxReconnects = r.integer("maxReconnects", b.maxReconnects);
        b.reconnectWait = r.duration("wait", b.reconnectWait);
        b.reconnectJitter = r.duration("jitter", b.reconnectJitter);
        b.reconnectBufferBytes = r.bytes("bufferSize", b.reconnectBufferBytes);
        r.rejectUnknownKeys(Set.of("maxReconnects", "wait", "jitter", "bufferSize"));

        ConfigSection t = s.section("tls");
        b.trustStore = path(t, "trustStore");
        String tsp = t.string("trustStorePassword", null);
        b.trustStorePassword = tsp == null ? null : tsp.toCharArray();
        b.keyStore = path(t, "keyStore");
        String ksp = t.string("keyStorePassword", null);
        b.keyStorePassword = ksp == null ? null : ksp.toCharArray();
        t.rejectUnknownKeys(Set.of("trustStore", "trustStorePassword", "keyStore", "keyStorePassword"));

        ConfigSection st = s.section("stream");
        b.partitions = st.integer("partitions", b.partitions);
        b.storage = Checks.enumValue(st.key("storage"), Storage.class, st.string("storage", "file"));
        b.retention = Checks.enumValue(st.key("retention"), Retention.class, st.string("retention", "limits"));
        b.maxAge = st.duration("maxAge", b.maxAge);
        b.maxBytes = st.has("maxBytes") && "-1".equals(String.valueOf(st.raw("maxBytes")).trim()) ? -1
                : st.bytes("maxBytes", b.maxBytes);
        b.duplicateWindow = st.duration("duplicateWindow", b.duplicateWindow);
        st.rejectUnknownKeys(Set.of("partitions", "storage", "retention", "maxAge", "maxBytes", "duplicateWindow"));

        ConfigSection c = s.section("consumer");
        b.ackWait = c.duration("ackWait", b.ackWait);
        b.maxAckPending = c.integer("maxAckPending", b.maxAckPending);
        b.pullExpiry = c.duration("pullExpiry", b.pullExpiry);
        b.maxBatch = c.integer("maxBatch", b.maxBatch);
        c.rejectUnknownKeys(Set.of("ackWait", "maxAckPending", "pullExpiry", "maxBatch"));

        ConfigSection g = s.section("group");
        b.heartbeatInterval = g.duration("heartbeatInterval", b.heartbeatInterval);
        b.sessionTimeout = g.duration("sessionTimeout", b.sessionTimeout);
        b.groupBucket = g.string("bucket", b.groupBucket);
        g.rejectUnknownKeys(Set.of("heartbeatInterval", "sessionTimeout", "bucket"));

        ConfigSection p = s.section("publish");
        b.maxPendingAcks = p.integer("maxPendingAcks", b.maxPendingAcks);
        b.publishAckTimeout = p.duration("ackTimeout", b.publishAckTimeout);
        p.rejectUnknownKeys(Set.of("maxPendingAcks", "ackTimeout"));

        ConfigSection co = s.section("core");
        b.coreMaxBuffered = co.integer("maxBufferedMessages", b.coreMaxBuffered);
        b.coreMaxBufferedBytes = co.bytes("maxBufferedBytes", b.coreMaxBufferedBytes);
        co.rejectUnknownKeys(Set.of("maxBufferedMessages", "maxBufferedBytes"));

        s.rejectUnknownKeys(KEYS);
        return b.build();
    }

    private static String blankToNull(String s) {
        return s == null || s.isBlank() ? null : s;
    }

    private static Path path(ConfigSection s, String name) {
        String value = s.string(name, null);
        return value == null ? null : Path.of(value);
    }

    /** The server URLs. */
    public List<String> servers() {
        return servers;
    }

    /** JetStream or core. */
    public Mode mode() {
        return mode;
    }

    /** Partitions (subjects) per topic. */
    public int partitions() {
        return partitions;
    }

    /** True when a trust store is set or a server URL uses {@code tls://}. */
    public boolean usesTls() {
        return trustStore != null || servers.stream().anyMatch(u -> u.startsWith("tls://"));
    }

    @Override
    public String toString() {
        return "NatsSettings{servers=" + redacted(servers) + ", mode=" + mode.name().toLowerCase(Locale.ROOT)
                + ", auth=" + (token != null ? "token(****)" : user != null ? "user(" + user + ", ****)" : "none")
                + ", tls=" + (trustStore != null ? "trustStore(" + trustStore + ")" : usesTls() ? "default" : "off")
                + ", reconnect={max=" + maxReconnects + ", wait=" + Durations.format(reconnectWait) + ", jitter="
                + Durations.format(reconnectJitter) + ", buffer=" + reconnectBufferBytes + "}"
                + ", stream={partitions=" + partitions + ", storage=" + storage + ", retention=" + retention
                + ", maxAge=" + Durations.format(maxAge) + ", maxBytes=" + maxBytes + ", duplicateWindow="
                + Durations.format(duplicateWindow) + "}"
                + ", consumer={ackWait=" + Durations.format(ackWait) + ", maxAckPending=" + maxAckPending
                + ", pullExpiry=" + Durations.format(pullExpiry) + ", maxBatch=" + maxBatch + "}"
                + ", group={heartbeat=" + Durations.format(heartbeatInterval) + ", sessionTimeout="
                + Durations.format(sessionTimeout) + ", bucket=" + groupBucket + "}"
                + ", publish={maxPendingAcks=" + maxPendingAcks + ", ackTimeout="
                + Durations.format(publishAckTimeout) + "}"
                + ", core={maxBufferedMessages=" + coreMaxBuffered + ", maxBufferedBytes=" + coreMaxBufferedBytes + "}}";
    }

    /** Builds settings in code (tests, embedding); {@link #from} is the checked path from configuration. */
    public static final class Builder {
        private List<String> servers = List.of("nats://127.0.0.1:4222");
        private Mode mode = Mode.JETSTREAM;
        private String user;
        private char[] password;
        private char[] token;
        private Duration connectTimeout = Duration.ofSeconds(5);
        private String connectionName;
        private int maxReconnects = -1;
        private Duration reconnectWait = Duration.ofMillis(250);
        private Duration reconnectJitter = Duration.ofMillis(100);
        private long reconnectBufferBytes = 8L * 1024 * 1024;
        private Path trustStore;
        private char[] trustStorePassword;
        private Path keyStore;
        private char[] keyStorePassword;
        private int partitions = 3;
        private Storage storage = Storage.FILE;
        private Retention retention = Retention.LIMITS;
        private Duration maxAge = Duration.ZERO;
        private long maxBytes = -1;
        private Duration duplicateWindow = Duration.ofMinutes(2);
        private Duration ackWait = Duration.ofSeconds(30);
        private int maxAckPending;
        private Duration pullExpiry = Duration.ofSeconds(1);
        private int maxBatch = 256;
        private Duration heartbeatInterval = Duration.ofSeconds(1);
        private Duration sessionTimeout = Duration.ofSeconds(10);
        private String groupBucket = "sluice_groups";
        private int maxPendingAcks = 4096;
        private Duration publishAckTimeout = Duration.ofSeconds(5);
        private int coreMaxBuffered = 65_536;
        private long coreMaxBufferedBytes = 64L * 1024 * 1024;

        private Builder() {
        }

        /** {@code nats.servers}: the server URLs to connect to. */
        public Builder servers(List<String> servers) {
            this.servers = new ArrayList<>(servers);
            return this;
        }

        /** {@code nats.servers} with one URL. */
        public Builder server(String url) {
            return servers(List.of(url));
        }

        /** {@code nats.mode}. */
        public Builder mode(Mode mode) {
            this.mode = mode;
            return this;
        }

        /** {@code nats.user} and {@code nats.password}. */
        public Builder userPassword(String user, String password) {
            this.user = user;
            this.password = password.toCharArray();
            return this;
        }

        /** {@code nats.token}. */
        public Builder token(String token) {
            this.token = token.toCharArray();
            return this;
        }

        /** {@code nats.tls.trustStore} and its password: turns TLS on and trusts the CAs in the store. */
        public Builder trustStore(Path file, String password) {
            this.trustStore = file;
            this.trustStorePassword = password == null ? null : password.toCharArray();
            return this;
        }

        /** The {@code nats.reconnect} settings: attempts (-1 forever), wait, jitter and buffer size in bytes. */
        public Builder reconnect(int maxReconnects, Duration wait, Duration jitter, long bufferBytes) {
            this.maxReconnects = maxReconnects;
            this.reconnectWait = wait;
            this.reconnectJitter = jitter;
            this.reconnectBufferBytes = bufferBytes;
            return this;
        }

        /** {@code nats.connectTimeout}. */
        public Builder connectTimeout(Duration timeout) {
            this.connectTimeout = timeout;
            return this;
        }

        /** {@code nats.stream.partitions}. */
        public Builder partitions(int partitions) {
            this.partitions = partitions;
            return this;
        }

        /** {@code nats.stream.storage}. */
        public Builder storage(Storage storage) {
            this.storage = storage;
            return this;
        }

        /** {@code nats.consumer.ackWait}. */
        public Builder ackWait(Duration ackWait) {
            this.ackWait = ackWait;
            return this;
        }

        /** {@code nats.group.heartbeatInterval} and {@code nats.group.sessionTimeout}. */
        public Builder group(Duration heartbeatInterval, Duration sessionTimeout) {
            this.heartbeatInterval = heartbeatInterval;
            this.sessionTimeout = sessionTimeout;
            return this;
        }

        /** {@code nats.consumer.pullExpiry}. */
        public Builder pullExpiry(Duration pullExpiry) {
            this.pullExpiry = pullExpiry;
            return this;
        }

        /** {@code nats.mode} by name: {@code jetstream} or {@code core}. */
        public Builder mode(String name) {
            this.mode = Checks.enumValue("nats.mode", Mode.class, name);
            return this;
        }

        /** {@code nats.publish.maxPendingAcks} and {@code nats.publish.ackTimeout}. */
        public Builder publish(int maxPendingAcks, Duration ackTimeout) {
            this.maxPendingAcks = maxPendingAcks;
            this.publishAckTimeout = ackTimeout;
            return this;
        }

        /** {@code nats.consumer.maxAckPending}: 0 follows the subscription's in-flight bound. */
        public Builder maxAckPending(int maxAckPending) {
            this.maxAckPending = maxAckPending;
            return this;
        }

        /** {@code nats.consumer.maxBatch}. */
        public Builder maxBatch(int maxBatch) {
            this.maxBatch = maxBatch;
            return this;
        }

        /** {@code nats.stream.retention}. */
        public Builder retention(Retention retention) {
            this.retention = retention;
            return this;
        }

        /** {@code nats.group.bucket}. */
        public Builder groupBucket(String bucket) {
            this.groupBucket = bucket;
            return this;
        }

        /** {@code nats.core.maxBufferedMessages} and {@code nats.core.maxBufferedBytes}. */
        public Builder coreBuffer(int maxMessages, long maxBytes) {
            this.coreMaxBuffered = maxMessages;
            this.coreMaxBufferedBytes = maxBytes;
            return this;
        }

        /**
         * The settings, after checking every value and the rules between them; a bad one fails with
         * {@link ConfigException} naming its {@code nats.*} key.
         */
        public NatsSettings build() {
            checkServers("nats.servers");
            if (mode == null) {
                throw new ConfigException("nats.mode", null, "must be one of jetstream, core");
            }
            checkAuth();
            Checks.durationBetween("nats.connectTimeout", connectTimeout, Duration.ofMillis(10), Duration.ofMinutes(10));
            if (connectionName != null && connectionName.isBlank()) {
                throw new ConfigException("nats.connectionName", connectionName, "must not be blank");
            }
            Checks.intBetween("nats.reconnect.maxReconnects", maxReconnects, -1, 1_000_000);
            Checks.durationBetween("nats.reconnect.wait", reconnectWait, Duration.ZERO, Duration.ofMinutes(10));
            Checks.durationBetween("nats.reconnect.jitter", reconnectJitter, Duration.ZERO, Duration.ofMinutes(10));
            Checks.longBetween("nats.reconnect.bufferSize", reconnectBufferBytes, 0, 1L << 34);
            checkReadable("nats.tls.trustStore", trustStore);
            checkReadable("nats.tls.keyStore", keyStore);

            Checks.intBetween("nats.stream.partitions", partitions, 1, 1024);
            if (storage == null) {
                throw new ConfigException("nats.stream.storage", null, "must be one of file, memory");
            }
            if (retention == null) {
                throw new ConfigException("nats.stream.retention", null, "must be one of limits, interest, workqueue");
            }
            Checks.durationBetween("nats.stream.maxAge", maxAge, Duration.ZERO, Duration.ofDays(365_000));
            Checks.longBetween("nats.stream.maxBytes", maxBytes, -1, Long.MAX_VALUE);
            Checks.durationBetween("nats.stream.duplicateWindow", duplicateWindow, Duration.ofMillis(100),
                    Duration.ofDays(7));

            Checks.durationBetween("nats.consumer.ackWait", ackWait, Duration.ofSeconds(1), Duration.ofHours(12));
            Checks.durationBetween("nats.consumer.pullExpiry", pullExpiry, Duration.ofMillis(100), Duration.ofMinutes(1));
            Checks.intBetween("nats.consumer.maxBatch", maxBatch, 1, 10_000);
            Checks.intBetween("nats.consumer.maxAckPending", maxAckPending, 0, 10_000_000);
            if (maxAckPending > 0 && maxAckPending < maxBatch) {
                throw new ConfigException("nats.consumer.maxAckPending", maxAckPending, "must be 0 (follow the "
                        + "in-flight bound) or at least nats.consumer.maxBatch=" + maxBatch);
            }

            Checks.durationBetween("nats.group.heartbeatInterval", heartbeatInterval, Duration.ofMillis(50),
                    Duration.ofMinutes(1));
            Checks.durationBetween("nats.group.sessionTimeout", sessionTimeout, Duration.ofMillis(200),
                    Duration.ofHours(1));
            if (sessionTimeout.compareTo(heartbeatInterval.multipliedBy(3)) < 0) {
                throw new ConfigException("nats.group.sessionTimeout", Durations.format(sessionTimeout),
                        "must be at least three heartbeat intervals (nats.group.heartbeatInterval="
                                + Durations.format(heartbeatInterval) + ")");
            }
            if (sessionTimeout.compareTo(pullExpiry.plus(heartbeatInterval.multipliedBy(2))) <= 0) {
                // A member stops fetching this long before others may take its partitions over (see leaseMargin).
                throw new ConfigException("nats.group.sessionTimeout", Durations.format(sessionTimeout),
                        "must be longer than nats.consumer.pullExpiry (" + Durations.format(pullExpiry)
                                + ") plus two heartbeat intervals (" + Durations.format(heartbeatInterval) + ")");
            }
            if (groupBucket == null || !groupBucket.matches("[A-Za-z0-9_-]+")) {
                throw new ConfigException("nats.group.bucket", groupBucket, "must be letters, digits, '_' or '-'");
            }

            Checks.intBetween("nats.publish.maxPendingAcks", maxPendingAcks, 1, 1_000_000);
            Checks.durationBetween("nats.publish.ackTimeout", publishAckTimeout, Duration.ofMillis(100),
                    Duration.ofMinutes(10));
            Checks.intBetween("nats.core.maxBufferedMessages", coreMaxBuffered, 1, 10_000_000);
            Checks.longBetween("nats.core.maxBufferedBytes", coreMaxBufferedBytes, 1024, 1L << 40);
            return new NatsSettings(this);
        }

        private void checkAuth() {
            if (token != null && user != null) {
                throw new ConfigException("nats.token", "Invalid configuration nats.token: give either a token or "
                        + "nats.user and nats.password, not both");
            }
            if (token != null && token.length == 0) {
                throw new ConfigException("nats.token", "Invalid configuration nats.token: must not be empty");
            }
            if (user != null && password == null) {
                throw new ConfigException("nats.password", "Invalid configuration nats.password: nats.user is set, "
                        + "so a password is required");
            }
            if (user == null && password != null) {
                throw new ConfigException("nats.user", "Invalid configuration nats.user: nats.password is set, so a "
                        + "user is required");
            }
        }

        private static void checkReadable(String key, Path file) {
            if (file != null && !Files.isReadable(file)) {
                throw new ConfigException(key, file.toString(), "must be a readable file");
            }
        }

        private void checkServers(String key) {
            if (servers == null || servers.isEmpty()) {
                throw new ConfigException(key, "[]", "must name at least one server, such as nats://127.0.0.1:4222");
            }
            for (String url : servers) {
                URI u;
                try {
                    u = URI.create(url.trim());
                } catch (IllegalArgumentException e) {
                    throw new ConfigException(key, redacted(url), "must be a list of server URLs such as "
                            + "nats://127.0.0.1:4222 or tls://host:4222");
                }
                String scheme = u.getScheme() == null ? null : u.getScheme().toLowerCase(Locale.ROOT);
                if ("opentls".equals(scheme)) {
                    throw new ConfigException(key, redacted(url), "opentls:// connects without checking the server's "
                            + "certificate; use tls:// and trust the server's CA with nats.tls.trustStore");
                }
                if (scheme == null || !Set.of("nats", "tls").contains(scheme) || u.getHost() == null) {
                    throw new ConfigException(key, redacted(url), "must be a list of server URLs such as "
                            + "nats://127.0.0.1:4222 or tls://host:4222");
                }
                if (u.getRawUserInfo() != null) {
                    throw new ConfigException(key, redacted(url), "must not carry credentials; set nats.user and "
                            + "nats.password, or nats.token, which are kept out of logs");
                }
            }
        }
    }

    /** {@code urls} with any user info replaced by {@code ***}, for messages and logs. */
    static List<String> redacted(List<String> urls) {
        List<String> out = new ArrayList<>(urls.size());
        for (String u : urls) {
            out.add(redacted(u));
        }
        return out;
    }

    /** {@code url} with the part before '@' in its authority replaced by {@code ***}. */
    static String redacted(String url) {
        if (url == null) {
            return null;
        }
        int scheme = url.indexOf("://");
        int from = scheme < 0 ? 0 : scheme + 3;
        int slash = url.indexOf('/', from);
        int end = slash < 0 ? url.length() : slash;
        int at = url.lastIndexOf('@', end - 1);
        return at < from ? url : url.substring(0, from) + "***" + url.substring(at);
    }
}
