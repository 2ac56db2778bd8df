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
 *   core: {maxBufferedMessages: 65536}
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
        b.checkServers(s.key("servers"));
        b.mode = Checks.enumValue(s.key("mode"), Mode.class, s.string("mode", "jetstream"));
        b.user = blankToNull(s.string("user", null));
        String password = s.string("password", null);
        b.password = password == null ? null : password.toCharArray();
        String token = s.string("token", null);
        b.token = token == null ? null : token.toCharArray();
        b.connectTimeout = Checks.durationBetween(s.key("connectTimeout"), s.duration("connectTimeout",
                b.connectTimeout), Duration.ofMillis(10), Duration.ofMinutes(10));
        b.connectionName = s.string("connectionName", null);

        ConfigSection r = s.section("reconnect");
        b.maxReconnects = Checks.intBetween(r.key("maxReconnects"), r.integer("maxReconnects", b.maxReconnects),
                -1, 1_000_000);
        b.reconnectWait = Checks.durationBetween(r.key("wait"), r.duration("wait", b.reconnectWait),
                Duration.ZERO, Duration.ofMinutes(10));
        b.reconnectJitter = Checks.durationBetween(r.key("jitter"), r.duration("jitter", b.reconnectJitter),
                Duration.ZERO, Duration.ofMinutes(10));
        b.reconnectBufferBytes = Checks.longBetween(r.key("bufferSize"), r.bytes("bufferSize",
                b.reconnectBufferBytes), 0, 1L << 34);
        r.rejectUnknownKeys(Set.of("maxReconnects", "wait", "jitter", "bufferSize"));

        ConfigSection t = s.section("tls");
        b.trustStore = existingFile(t, "trustStore");
        String tsp = t.string("trustStorePassword", null);
        b.trustStorePassword = tsp == null ? null : tsp.toCharArray();
        b.keyStore = existingFile(t, "keyStore");
        String ksp = t.string("keyStorePassword", null);
        b.keyStorePassword = ksp == null ? null : ksp.toCharArray();
        t.rejectUnknownKeys(Set.of("trustStore", "trustStorePassword", "keyStore", "keyStorePassword"));

        ConfigSection st = s.section("stream");
        b.partitions = Checks.intBetween(st.key("partitions"), st.integer("partitions", b.partitions), 1, 1024);
        b.storage = Checks.enumValue(st.key("storage"), Storage.class, st.string("storage", "file"));
        b.retention = Checks.enumValue(st.key("retention"), Retention.class, st.string("retention", "limits"));
        b.maxAge = Checks.durationBetween(st.key("maxAge"), st.duration("maxAge", b.maxAge), Duration.ZERO,
                Duration.ofDays(365_000));
        b.maxBytes = st.has("maxBytes") && "-1".equals(String.valueOf(st.raw("maxBytes")).trim()) ? -1
                : Checks.longBetween(st.key("maxBytes"), st.bytes("maxBytes", b.maxBytes), -1, Long.MAX_VALUE);
        b.duplicateWindow = Checks.durationBetween(st.key("duplicateWindow"), st.duration("duplicateWindow",
                b.duplicateWindow), Duration.ofMillis(100), Duration.ofDays(7));
        st.rejectUnknownKeys(Set.of("partitions", "storage", "retention", "maxAge", "maxBytes", "duplicateWindow"));

        ConfigSection c = s.section("consumer");
        b.ackWait = Checks.durationBetween(c.key("ackWait"), c.duration("ackWait", b.ackWait), Duration.ofSeconds(1),
                Duration.ofHours(12));
        b.maxAckPending = Checks.intBetween(c.key("maxAckPending"), c.integer("maxAckPending", b.maxAckPending), 0,
                10_000_000);
        b.pullExpiry = Checks.durationBetween(c.key("pullExpiry"), c.duration("pullExpiry", b.pullExpiry),
                Duration.ofMillis(100), Duration.ofMinutes(1));
        b.maxBatch = Checks.intBetween(c.key("maxBatch"), c.integer("maxBatch", b.maxBatch), 1, 10_000);
        c.rejectUnknownKeys(Set.of("ackWait", "maxAckPending", "pullExpiry", "maxBatch"));

        ConfigSection g = s.section("group");
        b.heartbeatInterval = Checks.durationBetween(g.key("heartbeatInterval"), g.duration("heartbeatInterval",
                b.heartbeatInterval), Duration.ofMillis(50), Duration.ofMinutes(1));
        b.sessionTimeout = Checks.durationBetween(g.key("sessionTimeout"), g.duration("sessionTimeout",
                b.sessionTimeout), Duration.ofMillis(200), Duration.ofHours(1));
        if (b.sessionTimeout.compareTo(b.heartbeatInterval.multipliedBy(3)) < 0) {
            throw new ConfigException(g.key("sessionTimeout"), Durations.format(b.sessionTimeout),
                    "must be at least three heartbeat intervals (nats.group.heartbeatInterval="
                            + Durations.format(b.heartbeatInterval) + ")");
        }
        b.groupBucket = g.string("bucket", b.groupBucket);
        if (!b.groupBucket.matches("[A-Za-z0-9_-]+")) {
            throw new ConfigException(g.key("bucket"), b.groupBucket, "must be letters, digits, '_' or '-'");
        }
        g.rejectUnknownKeys(Set.of("heartbeatInterval", "sessionTimeout", "bucket"));

        ConfigSection p = s.section("publish");
        b.maxPendingAcks = Checks.intBetween(p.key("maxPendingAcks"), p.integer("maxPendingAcks", b.maxPendingAcks),
                1, 1_000_000);
        b.publishAckTimeout = Checks.durationBetween(p.key("ackTimeout"), p.duration("ackTimeout",
                b.publishAckTimeout), Duration.ofMillis(100), Duration.ofMinutes(10));
        p.rejectUnknownKeys(Set.of("maxPendingAcks", "ackTimeout"));

        ConfigSection co = s.section("core");
        b.coreMaxBuffered = Checks.intBetween(co.key("maxBufferedMessages"), co.integer("maxBufferedMessages",
                b.coreMaxBuffered), 1, 10_000_000);
        co.rejectUnknownKeys(Set.of("maxBufferedMessages"));

        if (b.token != null && b.user != null) {
            throw new ConfigException(s.key("token"), "Invalid configuration " + s.key("token") + ": give either "
                    + "a token or nats.user and nats.password, not both");
        }
        if (b.user != null && b.password == null) {
            throw new ConfigException(s.key("password"), "Invalid configuration " + s.key("password")
                    + ": nats.user is set, so a password is required");
        }
        if (b.user == null && b.password != null) {
            throw new ConfigException(s.key("user"), "Invalid configuration " + s.key("user")
                    + ": nats.password is set, so a user is required");
        }
        s.rejectUnknownKeys(KEYS);
        return b.build();
    }

    private static String blankToNull(String s) {
        return s == null || s.isBlank() ? null : s;
    }

    private static Path existingFile(ConfigSection s, String name) {
        String value = s.string(name, null);
        if (value == null) {
            return null;
        }
        Path p = Path.of(value);
        if (!Files.isReadable(p)) {
            throw new ConfigException(s.key(name), value, "must be a readable file");
        }
        return p;
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
        return "NatsSettings{servers=" + servers + ", mode=" + mode.name().toLowerCase(Locale.ROOT)
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
                + Durations.format(publishAckTimeout) + "}}";
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
            this.mode = Mode.valueOf(name.toUpperCase(Locale.ROOT));
            return this;
        }

        /** {@code nats.publish.maxPendingAcks} and {@code nats.publish.ackTimeout}. */
        public Builder publish(int maxPendingAcks, Duration ackTimeout) {
            this.maxPendingAcks = maxPendingAcks;
            this.publishAckTimeout = ackTimeout;
            return this;
        }

        private void checkServers(String key) {
            if (servers.isEmpty()) {
                throw new ConfigException(key, "[]", "must name at least one server, such as nats://127.0.0.1:4222");
            }
            for (String url : servers) {
                try {
                    URI u = URI.create(url.trim());
                    String scheme = u.getScheme();
                    if (scheme == null || !Set.of("nats", "tls", "opentls").contains(scheme) || u.getHost() == null) {
                        throw new IllegalArgumentException();
                    }
                } catch (IllegalArgumentException e) {
                    throw new ConfigException(key, url, "must be a list of server URLs such as nats://127.0.0.1:4222 "
                            + "or tls://host:4222");
                }
            }
        }

        /** The settings; checks the server URLs (the other values are checked when read from configuration). */
        public NatsSettings build() {
            checkServers("nats.servers");
            return new NatsSettings(this);
        }
    }
}
