package io.sluice.rabbitmq;

import io.sluice.config.Checks;
import io.sluice.config.ConfigException;
import io.sluice.config.ConfigSection;
import io.sluice.config.Durations;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.Set;

/**
 * The validated {@code rabbitmq:} section of {@code sluice.yaml}. Every key is checked when the transport is created;
 * a bad value fails with {@link ConfigException} naming {@code rabbitmq.<key>} and the value (never a password).
 * Immutable and thread-safe. The password is kept as a char array and never appears in {@link #toString()}; a
 * password inside {@code uri} is masked there too.
 *
 * <pre>{@code
 * rabbitmq:
 *   uri: amqp://127.0.0.1:5672/     # or host + port; amqps:// turns TLS on
 *   host: 127.0.0.1
 *   port: 5672
 *   vhost: /
 *   username: guest
 *   password: guest
 *   tls: {enabled: false, trustStore: ca.p12, trustStorePassword: changeit}
 *   partitions: 4                    # queues per topic and group
 *   queueType: quorum                # or classic
 *   deliveryLimit: 0                 # quorum x-delivery-limit; 0 = off (Sluice counts attempts)
 *   maxPriority: 0                   # classic x-max-priority; 0 = off
 *   prefetch: 0                      # basic.qos per partition queue; 0 = the engine's in-flight bound
 *   connectionTimeout: 10s
 *   recoveryInterval: 1s
 *   publish: {maxPendingConfirms: 4096}
 *   group: {heartbeatInterval: 1s, sessionTimeout: 5s}
 *   delayTiers: [1s, 5s, 30s, 2m, 10m]  # TTL queues of native delay; [] turns it off
 * }</pre>
 */
public final class RabbitMqSettings {
    /** The queue type of partition queues. */
    public enum QueueType { QUORUM, CLASSIC }

    private static final Set<String> KEYS = Set.of("uri", "host", "port", "vhost", "username", "password", "tls",
            "partitions", "queueType", "deliveryLimit", "maxPriority", "prefetch", "connectionTimeout",
            "recoveryInterval", "publish", "group", "delayTiers");

    final String host;
    final int port;
    final String vhost;
    final String username;
    final char[] password;
    final boolean tls;
    final Path trustStore;
    final char[] trustStorePassword;
    final int partitions;
    final QueueType queueType;
    final int deliveryLimit;
    final int maxPriority;
    final int prefetch;
    final Duration connectionTimeout;
    final Duration recoveryInterval;
    final int maxPendingConfirms;
    final Duration heartbeatInterval;
    final Duration sessionTimeout;
    /** Native delay tiers, ascending; empty turns native delay off. */
    final java.util.List<Duration> delayTiers;

    private RabbitMqSettings(Builder b) {
        host = b.host;
        port = b.port;
        vhost = b.vhost;
        username = b.username;
        password = b.password;
        tls = b.tls;
        trustStore = b.trustStore;
        trustStorePassword = b.trustStorePassword;
        partitions = b.partitions;
        queueType = b.queueType;
        deliveryLimit = b.deliveryLimit;
        maxPriority = b.maxPriority;
        prefetch = b.prefetch;
        connectionTimeout = b.connectionTimeout;
        recoveryInterval = b.recoveryInterval;
        maxPendingConfirms = b.maxPendingConfirms;
        heartbeatInterval = b.heartbeatInterval;
        sessionTimeout = b.sessionTimeout;
        delayTiers = java.util.List.copyOf(b.delayTiers);
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Binds and validates the {@code rabbitmq} section; unknown keys fail. */
    public static RabbitMqSettings from(ConfigSection s) {
        Builder b = builder();
        String uri = s.string("uri", null);
        if (uri != null) {
            b.uri(s.key("uri"), uri);
        }
        b.host = s.string("host", b.host);
        b.port = s.integer("port", b.port);
        b.vhost = s.string("vhost", b.vhost);
        b.username = s.string("username", b.username);
        String password = s.string("password", null);
        if (password != null) {
            b.password = password.toCharArray();
        }
        ConfigSection t = s.section("tls");
        b.tls = t.bool("enabled", b.tls || t.has("trustStore"));
        String ts = t.string("trustStore", null);
        b.trustStore = ts == null ? null : Path.of(ts);
        String tsp = t.string("trustStorePassword", null);
        b.trustStorePassword = tsp == null ? null : tsp.toCharArray();
        t.rejectUnknownKeys(Set.of("enabled", "trustStore", "trustStorePassword"));
        b.partitions = s.integer("partitions", b.partitions);
        b.queueType = Checks.enumValue(s.key("queueType"), QueueType.class, s.string("queueType", "quorum"));
        b.deliveryLimit = s.integer("deliveryLimit", b.deliveryLimit);
        b.maxPriority = s.integer("maxPriority", b.maxPriority);
        b.prefetch = s.integer("prefetch", b.prefetch);
        b.connectionTimeout = s.duration("connectionTimeout", b.connectionTimeout);
        b.recoveryInterval = s.duration("recoveryInterval", b.recoveryInterval);
        ConfigSection p = s.section("publish");
        b.maxPendingConfirms = p.integer("maxPendingConfirms", b.maxPendingConfirms);
        p.rejectUnknownKeys(Set.of("maxPendingConfirms"));
        ConfigSection g = s.section("group");
        b.heartbeatInterval = g.duration("heartbeatInterval", b.heartbeatInterval);
        b.sessionTimeout = g.duration("sessionTimeout", b.sessionTimeout);
        g.rejectUnknownKeys(Set.of("heartbeatInterval", "sessionTimeout"));
        if (s.has("delayTiers")) {
            java.util.List<Duration> tiers = new java.util.ArrayList<>();
            for (String tier : s.strings("delayTiers")) {
                tiers.add(Durations.parse(s.key("delayTiers"), tier));
            }
            b.delayTiers = tiers;
        }
        s.rejectUnknownKeys(KEYS);
        return b.build("rabbitmq.");
    }

    public int partitions() {
        return partitions;
    }

    public QueueType queueType() {
        return queueType;
    }

    @Override
    public String toString() {
        return "RabbitMqSettings{" + (tls ? "amqps" : "amqp") + "://" + host + ":" + port + ", vhost=" + vhost
                + ", user=" + username + ", password=****" + ", tls=" + (tls ? (trustStore != null
                ? "trustStore(" + trustStore + ")" : "default trust") : "off")
                + ", partitions=" + partitions + ", queueType=" + queueType.name().toLowerCase(Locale.ROOT)
                + ", deliveryLimit=" + deliveryLimit + ", maxPriority=" + maxPriority + ", prefetch=" + prefetch
                + ", connectionTimeout=" + Durations.format(connectionTimeout) + ", recoveryInterval="
                + Durations.format(recoveryInterval) + ", publish={maxPendingConfirms=" + maxPendingConfirms + "}"
                + ", group={heartbeat=" + Durations.format(heartbeatInterval) + ", sessionTimeout="
                + Durations.format(sessionTimeout) + "}, delayTiers="
                + delayTiers.stream().map(Durations::format).toList() + "}";
    }

    /** Builds settings in code (tests, embedding); {@link #from} is the checked path from configuration. */
    public static final class Builder {
        private String host = "127.0.0.1";
        private int port = 5672;
        private String vhost = "/";
        private String username = "guest";
        private char[] password = "guest".toCharArray();
        private boolean tls;
        private Path trustStore;
        private char[] trustStorePassword;
        private int partitions = 4;
        private QueueType queueType = QueueType.QUORUM;
        private int deliveryLimit;
        private int maxPriority;
        private int prefetch;
        private Duration connectionTimeout = Duration.ofSeconds(10);
        private Duration recoveryInterval = Duration.ofSeconds(1);
        private int maxPendingConfirms = 4096;
        private Duration heartbeatInterval = Duration.ofSeconds(1);
        private Duration sessionTimeout = Duration.ofSeconds(5);
        private java.util.List<Duration> delayTiers = java.util.List.of(Duration.ofSeconds(1), Duration.ofSeconds(5),
                Duration.ofSeconds(30), Duration.ofMinutes(2), Duration.ofMinutes(10));

        private Builder() {
        }

        /** {@code rabbitmq.uri}: {@code amqp[s]://[user[:password]@]host[:port][/vhost]}. */
        public Builder uri(String uri) {
            return uri("rabbitmq.uri", uri);
        }

        private Builder uri(String key, String value) {
            URI u;
            try {
                u = URI.create(value);
            } catch (IllegalArgumentException e) {
                throw new ConfigException(key, mask(value), "must be an amqp:// or amqps:// URI");
            }
            String scheme = u.getScheme() == null ? "" : u.getScheme().toLowerCase(Locale.ROOT);
            if (!scheme.equals("amqp") && !scheme.equals("amqps") || u.getHost() == null) {
                throw new ConfigException(key, mask(value), "must be an amqp:// or amqps:// URI with a host");
            }
            tls = scheme.equals("amqps");
            host = u.getHost();
            port = u.getPort() > 0 ? u.getPort() : tls ? 5671 : 5672;
            String info = u.getUserInfo();
            if (info != null) {
                int colon = info.indexOf(':');
                username = colon < 0 ? info : info.substring(0, colon);
                if (colon >= 0) {
                    password = info.substring(colon + 1).toCharArray();
                }
            }
            String path = u.getPath();
            if (path != null && path.length() > 1) {
                vhost = path.substring(1);
            }
            return this;
        }

        private static String mask(String uri) {
            return uri.replaceAll("(://[^:@/]*:)[^@/]*@", "$1****@");
        }

        public Builder host(String host, int port) {
            this.host = host;
            this.port = port;
            return this;
        }

        public Builder vhost(String vhost) {
            this.vhost = vhost;
            return this;
        }

        public Builder credentials(String username, String password) {
            this.username = username;
            this.password = password.toCharArray();
            return this;
        }

        /** TLS on, trusting the certificates of {@code trustStore} (PKCS#12), or the JDK's defaults when null. */
        public Builder tls(Path trustStore, String trustStorePassword) {
            this.tls = true;
            this.trustStore = trustStore;
            this.trustStorePassword = trustStorePassword == null ? null : trustStorePassword.toCharArray();
            return this;
        }

        public Builder partitions(int partitions) {
            this.partitions = partitions;
            return this;
        }

        public Builder queueType(QueueType type) {
            this.queueType = type;
            return this;
        }

        public Builder deliveryLimit(int limit) {
            this.deliveryLimit = limit;
            return this;
        }

        public Builder maxPriority(int maxPriority) {
            this.maxPriority = maxPriority;
            return this;
        }

        public Builder prefetch(int prefetch) {
            this.prefetch = prefetch;
            return this;
        }

        public Builder recoveryInterval(Duration interval) {
            this.recoveryInterval = interval;
            return this;
        }

        public Builder maxPendingConfirms(int max) {
            this.maxPendingConfirms = max;
            return this;
        }

        /** {@code rabbitmq.group.heartbeatInterval} and {@code sessionTimeout}. */
        public Builder group(Duration heartbeatInterval, Duration sessionTimeout) {
            this.heartbeatInterval = heartbeatInterval;
            this.sessionTimeout = sessionTimeout;
            return this;
        }

        /** {@code rabbitmq.delayTiers}: the TTL queues of native delay; none turns native delay off. */
        public Builder delayTiers(Duration... tiers) {
            this.delayTiers = java.util.List.of(tiers);
            return this;
        }

        public RabbitMqSettings build() {
            return build("rabbitmq.");
        }

        private RabbitMqSettings build(String prefix) {
            Checks.notBlank(prefix + "host", host);
            Checks.intBetween(prefix + "port", port, 1, 65535);
            Checks.notBlank(prefix + "vhost", vhost);
            Checks.notBlank(prefix + "username", username);
            Checks.intBetween(prefix + "partitions", partitions, 1, 1024);
            Checks.intBetween(prefix + "deliveryLimit", deliveryLimit, 0, 1_000_000);
            Checks.intBetween(prefix + "maxPriority", maxPriority, 0, 255);
            if (maxPriority > 0 && queueType == QueueType.QUORUM) {
                throw new ConfigException(prefix + "maxPriority", maxPriority,
                        "needs rabbitmq.queueType classic: quorum queues on RabbitMQ 3.10 have no priorities");
            }
            if (deliveryLimit > 0 && queueType == QueueType.CLASSIC) {
                throw new ConfigException(prefix + "deliveryLimit", deliveryLimit,
                        "needs rabbitmq.queueType quorum: classic queues have no delivery limit");
            }
            Checks.intBetween(prefix + "prefetch", prefetch, 0, 65535);
            Checks.intBetween(prefix + "publish.maxPendingConfirms", maxPendingConfirms, 1, 1 << 20);
            Checks.durationBetween(prefix + "connectionTimeout", connectionTimeout, Duration.ofMillis(100),
                    Duration.ofMinutes(10));
            Checks.durationBetween(prefix + "recoveryInterval", recoveryInterval, Duration.ofMillis(10),
                    Duration.ofMinutes(10));
            Checks.durationBetween(prefix + "group.heartbeatInterval", heartbeatInterval, Duration.ofMillis(10),
                    Duration.ofMinutes(1));
            if (sessionTimeout.compareTo(heartbeatInterval.multipliedBy(3)) < 0) {
                throw new ConfigException(prefix + "group.sessionTimeout", Durations.format(sessionTimeout),
                        "must be at least three heartbeat intervals (" + Durations.format(heartbeatInterval) + ")");
            }
            Duration previous = Duration.ZERO;
            for (Duration t : delayTiers) {
                if (t.compareTo(previous) <= 0 || t.toMillis() < 1 || t.compareTo(Duration.ofDays(1)) > 0) {
                    throw new ConfigException(prefix + "delayTiers", delayTiers.stream().map(Durations::format)
                            .toList().toString(), "must be ascending durations between 1ms and 1d");
                }
                previous = t;
            }
            if (trustStore != null && !Files.isReadable(trustStore)) {
                throw new ConfigException(prefix + "tls.trustStore", trustStore.toString(), "must be a readable file");
            }
            return new RabbitMqSettings(this);
        }
    }
}
