package io.sluice.kafka;

import io.sluice.config.Checks;
import io.sluice.config.ConfigException;
import io.sluice.config.ConfigSection;
import io.sluice.config.Durations;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.config.SaslConfigs;
import org.apache.kafka.common.config.SslConfigs;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * The validated {@code kafka:} section of {@code sluice.yaml}, and the client properties it implies. Immutable and
 * thread-safe; {@link #toString()} hides every secret.
 *
 * <table>
 * <caption>Keys under {@code kafka}</caption>
 * <tr><td>bootstrapServers</td><td>required: {@code host:port[,host:port...]}</td></tr>
 * <tr><td>clientId</td><td>prefix of the clients' {@code client.id} (default {@code sluice})</td></tr>
 * <tr><td>linger</td><td>how long the producer waits to fill a batch (default 5ms, up to 1m)</td></tr>
 * <tr><td>batchSize</td><td>producer batch size per partition (default 16KiB, up to 64MiB)</td></tr>
 * <tr><td>compression</td><td>none, gzip, snappy, lz4 or zstd (default none)</td></tr>
 * <tr><td>idempotence</td><td>idempotent producer with {@code acks=all} (default true); false gives
 * {@code acks=1}</td></tr>
 * <tr><td>deliveryTimeout</td><td>how long the producer keeps retrying one send (default 2m)</td></tr>
 * <tr><td>maxRequestSize</td><td>largest producer request, so largest record (default 1MiB)</td></tr>
 * <tr><td>delayTiers</td><td>list of delays for retry topics {@code <topic>.retry.<delay>}, such as
 * {@code [5s, 1m, 10m]} (default none: no native delayed redelivery)</td></tr>
 * <tr><td>security.protocol</td><td>plaintext, ssl, sasl_plaintext or sasl_ssl (default plaintext)</td></tr>
 * <tr><td>security.trustStore, trustStorePassword, trustStoreType</td><td>TLS trust (default: the JDK's)</td></tr>
 * <tr><td>security.keyStore, keyStorePassword, keyPassword, keyStoreType</td><td>TLS client certificate</td></tr>
 * <tr><td>security.hostnameVerification</td><td>check the broker's certificate names (default true)</td></tr>
 * <tr><td>security.sasl.mechanism</td><td>PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (default PLAIN)</td></tr>
 * <tr><td>security.sasl.username, security.sasl.password</td><td>SASL credentials</td></tr>
 * <tr><td>properties</td><td>raw Kafka client properties for producer, consumer and admin</td></tr>
 * <tr><td>producerProperties, consumerProperties</td><td>raw properties for one kind of client</td></tr>
 * </table>
 */
public final class KafkaSettings {
    static final String SECTION = "kafka";
    private static final Pattern HOST_PORT = Pattern.compile("[^\\s,:]+:\\d{1,5}");
    private static final Pattern SECRET_KEY = Pattern.compile("(?i).*(password|secret|jaas|credential|token).*");
    private static final Set<String> KEYS = Set.of("bootstrapServers", "clientId", "linger", "batchSize",
            "compression", "idempotence", "deliveryTimeout", "maxRequestSize", "delayTiers", "security",
            "properties", "producerProperties", "consumerProperties");
    private static final Set<String> SECURITY_KEYS = Set.of("protocol", "trustStore", "trustStorePassword",
            "trustStoreType", "keyStore", "keyStorePassword", "keyPassword", "keyStoreType", "hostnameVerification",
            "sasl");
    private static final Set<String> SASL_KEYS = Set.of("mechanism", "username", "password");
    /** Client properties Sluice sets itself; passing them raw would break what the transport promises. */
    private static final Set<String> MANAGED = Set.of(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG,
            ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG,
            ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG,
            ConsumerConfig.GROUP_ID_CONFIG, ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG,
            ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, ProducerConfig.TRANSACTIONAL_ID_CONFIG);

    /** Compression codecs Kafka offers. */
    public enum Compression { NONE, GZIP, SNAPPY, LZ4, ZSTD }

    /** How clients reach the brokers. */
    public enum Protocol { PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL }

    private final String bootstrapServers;
    private final String clientId;
    private final Duration linger;
    private final int batchSize;
    private final Compression compression;
    private final boolean idempotence;
    private final Duration deliveryTimeout;
    private final int maxRequestSize;
    private final DelayTiers delayTiers;
    private final Protocol protocol;
    private final Map<String, String> securityProperties;
    private final Map<String, String> properties;
    private final Map<String, String> producerProperties;
    private final Map<String, String> consumerProperties;

    private KafkaSettings(Map<String, Object> v) {
        this.bootstrapServers = (String) v.get("bootstrapServers");
        this.clientId = (String) v.get("clientId");
        this.linger = (Duration) v.get("linger");
        this.batchSize = (Integer) v.get("batchSize");
        this.compression = (Compression) v.get("compression");
        this.idempotence = (Boolean) v.get("idempotence");
        this.deliveryTimeout = (Duration) v.get("deliveryTimeout");
        this.maxRequestSize = (Integer) v.get("maxRequestSize");
        this.delayTiers = (DelayTiers) v.get("delayTiers");
        this.protocol = (Protocol) v.get("protocol");
        this.securityProperties = castMap(v.get("security"));
        this.properties = castMap(v.get("properties"));
        this.producerProperties = castMap(v.get("producerProperties"));
        this.consumerProperties = castMap(v.get("consumerProperties"));
    }

    @SuppressWarnings("unchecked")
    private static Map<String, String> castMap(Object o) {
        return (Map<String, String>) o;
    }

    /** Settings for brokers at {@code bootstrapServers}, everything else at its default. */
    public static KafkaSettings of(String bootstrapServers) {
        return from(new ConfigSection(SECTION, Map.of("bootstrapServers", bootstrapServers)));
    }

    /** Settings from a tree such as {@code sluice.yaml}'s {@code kafka} section. */
    public static KafkaSettings of(Map<String, ?> section) {
        return from(new ConfigSection(SECTION, section));
    }

    /**
     * Binds and validates a {@code kafka} section.
     *
     * @throws ConfigException naming the {@code kafka.*} key at fault
     */
    public static KafkaSettings from(ConfigSection s) {
        Map<String, Object> v = new LinkedHashMap<>();
        String servers = s.string("bootstrapServers", null);
        v.put("clientId", Checks.notBlank(s.key("clientId"), s.string("clientId", "sluice")));
        v.put("linger", Checks.durationBetween(s.key("linger"), s.duration("linger", Duration.ofMillis(5)),
                Duration.ZERO, Duration.ofMinutes(1)));
        v.put("batchSize", (int) Checks.longBetween(s.key("batchSize"), s.bytes("batchSize", 16 * 1024), 0,
                64L * 1024 * 1024));
        v.put("compression", Checks.enumValue(s.key("compression"), Compression.class,
                s.string("compression", "none")));
        v.put("idempotence", s.bool("idempotence", true));
        v.put("deliveryTimeout", Checks.durationBetween(s.key("deliveryTimeout"),
                s.duration("deliveryTimeout", Duration.ofMinutes(2)), Duration.ofSeconds(1), Duration.ofDays(1)));
        v.put("maxRequestSize", (int) Checks.longBetween(s.key("maxRequestSize"),
                s.bytes("maxRequestSize", 1024 * 1024), 1024, Integer.MAX_VALUE));
        v.put("delayTiers", delayTiers(s));
        ConfigSection security = s.section("security");
        Protocol protocol = Checks.enumValue(security.key("protocol"), Protocol.class,
                security.string("protocol", "plaintext"));
        v.put("protocol", protocol);
        v.put("security", securityProperties(security, protocol));
        v.put("properties", rawProperties(s, "properties"));
        v.put("producerProperties", rawProperties(s, "producerProperties"));
        v.put("consumerProperties", rawProperties(s, "consumerProperties"));
        s.rejectUnknownKeys(KEYS);
        if (servers == null || servers.isBlank()) {
            throw new ConfigException(s.key("bootstrapServers"), servers,
                    "must name the brokers to connect to, such as 127.0.0.1:9092 or host1:9092,host2:9092");
        }
        for (String server : servers.split(",")) {
            if (!HOST_PORT.matcher(server.trim()).matches()) {
                throw new ConfigException(s.key("bootstrapServers"), servers,
                        "must be a comma-separated list of host:port, such as 127.0.0.1:9092 or host1:9092,host2:9092");
            }
        }
        v.put("bootstrapServers", servers.trim());
        return new KafkaSettings(v);
    }

    private static DelayTiers delayTiers(ConfigSection s) {
        List<Duration> tiers = new ArrayList<>();
        for (String text : s.strings("delayTiers")) {
            Duration d = Durations.parse(s.key("delayTiers"), text);
            Checks.durationBetween(s.key("delayTiers"), d, Duration.ofMillis(1), Duration.ofDays(7));
            if (!tiers.isEmpty() && d.compareTo(tiers.get(tiers.size() - 1)) <= 0) {
                throw new ConfigException(s.key("delayTiers"), s.raw("delayTiers"),
                        "must list increasing durations, such as [5s, 1m, 10m]");
            }
            tiers.add(d);
        }
        return new DelayTiers(tiers);
    }

    private static Map<String, String> securityProperties(ConfigSection s, Protocol protocol) {
        Map<String, String> p = new LinkedHashMap<>();
        p.put(CommonClientConfigs.SECURITY_PROTOCOL_CONFIG, protocol.name());
        boolean tls = protocol == Protocol.SSL || protocol == Protocol.SASL_SSL;
        boolean sasl = protocol == Protocol.SASL_PLAINTEXT || protocol == Protocol.SASL_SSL;
        String trustStore = s.string("trustStore", null);
        String trustStorePassword = s.string("trustStorePassword", null);
        String trustStoreType = s.string("trustStoreType", null);
        String keyStore = s.string("keyStore", null);
        String keyStorePassword = s.string("keyStorePassword", null);
        String keyPassword = s.string("keyPassword", null);
        String keyStoreType = s.string("keyStoreType", null);
        boolean verifyHost = s.bool("hostnameVerification", true);
        ConfigSection saslSection = s.section("sasl");
        String mechanism = saslSection.string("mechanism", "PLAIN").toUpperCase(Locale.ROOT);
        String username = saslSection.string("username", null);
        String password = saslSection.string("password", null);
        saslSection.rejectUnknownKeys(SASL_KEYS);
        s.rejectUnknownKeys(SECURITY_KEYS);
        if (!tls && (trustStore != null || keyStore != null)) {
            throw new ConfigException(s.key(trustStore != null ? "trustStore" : "keyStore"),
                    trustStore != null ? trustStore : keyStore,
                    "needs security.protocol ssl or sasl_ssl (it is " + protocol.name().toLowerCase(Locale.ROOT) + ")");
        }
        if (tls) {
            putIfSet(p, SslConfigs.SSL_TRUSTSTORE_LOCATION_CONFIG, trustStore);
            putIfSet(p, SslConfigs.SSL_TRUSTSTORE_PASSWORD_CONFIG, trustStorePassword);
            putIfSet(p, SslConfigs.SSL_TRUSTSTORE_TYPE_CONFIG, trustStoreType);
            putIfSet(p, SslConfigs.SSL_KEYSTORE_LOCATION_CONFIG, keyStore);
            putIfSet(p, SslConfigs.SSL_KEYSTORE_PASSWORD_CONFIG, keyStorePassword);
            putIfSet(p, SslConfigs.SSL_KEY_PASSWORD_CONFIG, keyPassword);
            putIfSet(p, SslConfigs.SSL_KEYSTORE_TYPE_CONFIG, keyStoreType);
            p.put(SslConfigs.SSL_ENDPOINT_IDENTIFICATION_ALGORITHM_CONFIG, verifyHost ? "https" : "");
            if (trustStore != null && !java.nio.file.Files.isReadable(java.nio.file.Path.of(trustStore))) {
                throw new ConfigException(s.key("trustStore"), trustStore, "must be a readable file");
            }
        }
        if (sasl) {
            String loginModule = switch (mechanism) {
                case "PLAIN" -> "org.apache.kafka.common.security.plain.PlainLoginModule";
                case "SCRAM-SHA-256", "SCRAM-SHA-512" -> "org.apache.kafka.common.security.scram.ScramLoginModule";
                default -> throw new ConfigException(saslSection.key("mechanism"), mechanism,
                        "must be one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512");
            };
            Checks.notBlank(saslSection.key("username"), username);
            if (password == null) {
                throw new ConfigException(saslSection.key("password"), "Missing value for configuration "
                        + saslSection.key("password") + ": SASL " + mechanism + " needs a password");
            }
            p.put(SaslConfigs.SASL_MECHANISM, mechanism);
            p.put(SaslConfigs.SASL_JAAS_CONFIG, loginModule + " required username=\"" + jaasEscape(username)
                    + "\" password=\"" + jaasEscape(password) + "\";");
        } else if (username != null || password != null) {
            throw new ConfigException(saslSection.key(username != null ? "username" : "password"),
                    username != null ? username : "[hidden]", "needs security.protocol sasl_plaintext or sasl_ssl (it is "
                    + protocol.name().toLowerCase(Locale.ROOT) + ")");
        }
        return p;
    }

    private static String jaasEscape(String value) {
        return value.replace("\\", "\\\\").replace("\"", "\\\"");
    }

    private static void putIfSet(Map<String, String> p, String key, String value) {
        if (value != null) {
            p.put(key, value);
        }
    }

    private static Map<String, String> rawProperties(ConfigSection s, String name) {
        ConfigSection section = s.section(name);
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : flatten("", section.asMap()).entrySet()) {
            String key = e.getKey();
            if (MANAGED.contains(key)) {
                throw new ConfigException(section.key(key), SECRET_KEY.matcher(key).matches() ? "[hidden]" : e.getValue(),
                        "is managed by Sluice and cannot be passed through; use the kafka.* settings instead");
            }
            Object value = e.getValue();
            // A YAML list becomes Kafka's comma-separated list form.
            out.put(key, value instanceof List<?> list ? String.join(",", list.stream().map(String::valueOf).toList())
                    : String.valueOf(value));
        }
        return out;
    }

    /** YAML turns {@code max.poll.records: 10} into a tree when written unquoted; join it back into dotted keys. */
    @SuppressWarnings("unchecked")
    private static Map<String, Object> flatten(String prefix, Map<String, Object> tree) {
        Map<String, Object> out = new LinkedHashMap<>();
        tree.forEach((k, val) -> {
            String key = prefix.isEmpty() ? k : prefix + "." + k;
            if (val instanceof Map<?, ?> m) {
                out.putAll(flatten(key, (Map<String, Object>) m));
            } else {
                out.put(key, val);
            }
        });
        return out;
    }

    // ------------------------------------------------------------------ client properties

    /** Properties shared by every client: servers, security, the raw {@code properties}. */
    Map<String, Object> common(String clientIdSuffix) {
        Map<String, Object> p = new LinkedHashMap<>();
        p.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        p.put(CommonClientConfigs.CLIENT_ID_CONFIG, clientId + "-" + clientIdSuffix);
        p.putAll(securityProperties);
        p.putAll(properties);
        return p;
    }

    /** Producer properties: idempotent, batching and compression as configured, byte-array serializers. */
    Map<String, Object> producer(String clientIdSuffix) {
        Map<String, Object> p = common(clientIdSuffix);
        p.put(ProducerConfig.ACKS_CONFIG, idempotence ? "all" : "1");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, Boolean.toString(idempotence));
        p.put(ProducerConfig.LINGER_MS_CONFIG, Long.toString(linger.toMillis()));
        p.put(ProducerConfig.BATCH_SIZE_CONFIG, Integer.toString(batchSize));
        p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, compression.name().toLowerCase(Locale.ROOT));
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, Long.toString(deliveryTimeout.toMillis()));
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, Long.toString(Math.min(30_000, deliveryTimeout.toMillis())));
        p.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, Integer.toString(maxRequestSize));
        p.putAll(producerProperties);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, org.apache.kafka.common.serialization.ByteArraySerializer.class);
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, org.apache.kafka.common.serialization.ByteArraySerializer.class);
        return p;
    }

    /** Consumer properties: no auto-commit, cooperative-sticky assignment, byte-array deserializers. */
    Map<String, Object> consumer(String clientIdSuffix, String group, boolean fromLatest) {
        Map<String, Object> p = common(clientIdSuffix);
        p.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG,
                org.apache.kafka.clients.consumer.CooperativeStickyAssignor.class.getName());
        p.putAll(consumerProperties);
        p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, fromLatest ? "latest" : "earliest");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG,
                org.apache.kafka.common.serialization.ByteArrayDeserializer.class);
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG,
                org.apache.kafka.common.serialization.ByteArrayDeserializer.class);
        return p;
    }

    /** Admin client properties. */
    Map<String, Object> admin(String clientIdSuffix) {
        return common(clientIdSuffix);
    }

    /** {@code kafka.bootstrapServers}: the brokers to connect to. */
    public String bootstrapServers() {
        return bootstrapServers;
    }

    /** {@code kafka.linger}: how long the producer waits to fill a batch. */
    public Duration linger() {
        return linger;
    }

    /** {@code kafka.batchSize}: the producer's batch size per partition, in bytes. */
    public int batchSize() {
        return batchSize;
    }

    /** {@code kafka.compression}: the producer's compression codec. */
    public Compression compression() {
        return compression;
    }

    /** {@code kafka.idempotence}: idempotent producer with {@code acks=all} (true) or {@code acks=1}. */
    public boolean idempotence() {
        return idempotence;
    }

    /** The producer's largest request ({@code kafka.maxRequestSize}). */
    public int producerMaxRequestSize() {
        return maxRequestSize;
    }

    /** {@code kafka.security.protocol}. */
    public Protocol protocol() {
        return protocol;
    }

    /** The delay tiers; empty when native delayed redelivery is off. */
    public DelayTiers delayTiers() {
        return delayTiers;
    }

    private static Map<String, String> redacted(Map<String, String> m) {
        Map<String, String> out = new TreeMap<>();
        m.forEach((k, val) -> out.put(k, SECRET_KEY.matcher(k).matches() ? "[hidden]" : val));
        return out;
    }

    @Override
    public String toString() {
        return "KafkaSettings{bootstrapServers=" + bootstrapServers + ", clientId=" + clientId + ", linger="
                + Durations.format(linger) + ", batchSize=" + batchSize + ", compression="
                + compression.name().toLowerCase(Locale.ROOT) + ", idempotence=" + idempotence + ", deliveryTimeout="
                + Durations.format(deliveryTimeout) + ", maxRequestSize=" + maxRequestSize + ", delayTiers="
                + delayTiers + ", security=" + redacted(securityProperties) + ", properties=" + redacted(properties)
                + ", producerProperties=" + redacted(producerProperties) + ", consumerProperties="
                + redacted(consumerProperties) + '}';
    }
}
