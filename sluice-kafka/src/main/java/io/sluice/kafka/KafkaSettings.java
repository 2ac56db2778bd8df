package io.sluice.kafka;

import io.sluice.config.Checks;
import io.sluice.config.ConfigException;
import io.sluice.config.ConfigSection;
import io.sluice.config.Durations;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.SaslConfigs;
import org.apache.kafka.common.config.SslConfigs;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
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
 * <tr><td>idempotence</td><td>idempotent producer (default true); {@code acks} is {@code all} either way</td></tr>
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
 *
 * <p>Raw properties are checked against Kafka's own definitions when the settings are built, and the resulting
 * client configurations as a whole (Kafka's cross-field rules, and Sluice's: {@code acks=all}, a delivery timeout
 * that covers linger and request timeout), so a bad value fails here with a {@link ConfigException} naming its
 * {@code kafka.*} key rather than at the first publish or poll.
 */
public final class KafkaSettings {
    static final String SECTION = "kafka";
    private static final Pattern HOST_PORT = Pattern.compile("[^\\s,:]+:\\d{1,5}");
    /** Names of secrets Kafka does not declare itself (plugins' settings): passwords, tokens, key material. */
    private static final Pattern SECRET_KEY = Pattern.compile(
            "(?i).*(password|secret|jaas|credential|token|private|keystore\\.key|\\.key$|\\.key\\.).*");
    private static final ConfigDef PRODUCER_DEF = ProducerConfig.configDef();
    private static final ConfigDef CONSUMER_DEF = ConsumerConfig.configDef();
    private static final ConfigDef ADMIN_DEF = AdminClientConfig.configDef();
    /** Every property Kafka types as a password (JAAS config, store passwords, PEM keys and certificates). */
    private static final Set<String> PASSWORD_TYPED = passwordTyped();
    /** Time one request may take, at most, when {@code kafka.deliveryTimeout} leaves room for more. */
    private static final long REQUEST_TIMEOUT_MS = 30_000;
    private static final Duration DEFAULT_SYNC_COMMIT_TIMEOUT = Duration.ofSeconds(30);
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
            ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, ProducerConfig.TRANSACTIONAL_ID_CONFIG,
            ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG);

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
        Duration linger = (Duration) v.get("linger");
        Duration deliveryTimeout = (Duration) v.get("deliveryTimeout");
        if (deliveryTimeout.compareTo(linger.plusSeconds(1)) < 0) {
            throw new ConfigException(s.key("deliveryTimeout"), Durations.format(deliveryTimeout), "must be at least "
                    + "kafka.linger (" + Durations.format(linger) + ") plus 1s: a send waits for its batch to fill and "
                    + "then for the broker's answer");
        }
        KafkaSettings settings = new KafkaSettings(v);
        settings.validateClients(s);
        return settings;
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
                throw new ConfigException(section.key(key), isSecret(key) ? "[hidden]" : e.getValue(),
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

    // ------------------------------------------------------------------ validation of the client configurations

    /**
     * Checks each raw property against Kafka's definition of it, then the producer, consumer and admin
     * configurations as a whole, with Kafka's rules and Sluice's own, so that building a client later cannot fail on
     * its configuration.
     */
    private void validateClients(ConfigSection s) {
        checkRaw(s.key("properties"), properties, List.of(PRODUCER_DEF, CONSUMER_DEF, ADMIN_DEF));
        checkRaw(s.key("producerProperties"), producerProperties, List.of(PRODUCER_DEF));
        checkRaw(s.key("consumerProperties"), consumerProperties, List.of(CONSUMER_DEF));
        Map<String, Object> producer = parse(s, PRODUCER_DEF, producer("validation"), producerProperties);
        parse(s, CONSUMER_DEF, consumer("validation", "validation", false), consumerProperties);
        parse(s, ADMIN_DEF, admin("validation"), Map.of());

        // A raw acks may only say what Sluice sets anyway.
        for (Map<String, String> raw : List.of(properties, producerProperties)) {
            String acks = raw.getOrDefault(ProducerConfig.ACKS_CONFIG, "all").strip().toLowerCase(Locale.ROOT);
            if (!acks.equals("all") && !acks.equals("-1")) {
                throw new ConfigException(origin(s, ProducerConfig.ACKS_CONFIG, raw == properties ? Map.of() : raw),
                        acks, "must be all: Sluice counts a dead letter or a delay-tier hand-off as done, and commits "
                        + "the original past it, once the broker acknowledges it, so the acknowledgement must mean "
                        + "that every in-sync replica has it");
            }
        }
        if (idempotence) {
            int maxInFlight = (Integer) producer.get(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION);
            if (maxInFlight > 5) {
                throw new ConfigException(origin(s, ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION,
                        producerProperties), maxInFlight, "must be at most 5 while kafka.idempotence is true "
                        + "(Kafka's idempotent producer keeps order only that far)");
            }
            int retries = (Integer) producer.get(ProducerConfig.RETRIES_CONFIG);
            if (retries == 0) {
                throw new ConfigException(origin(s, ProducerConfig.RETRIES_CONFIG, producerProperties), retries,
                        "must be more than 0 while kafka.idempotence is true");
            }
        }
        long delivery = ((Number) producer.get(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG)).longValue();
        long lingerMs = ((Number) producer.get(ProducerConfig.LINGER_MS_CONFIG)).longValue();
        long request = ((Number) producer.get(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG)).longValue();
        if (delivery < lingerMs + request) {
            String culprit = ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG;
            for (String name : List.of(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, ProducerConfig.LINGER_MS_CONFIG)) {
                if (isRaw(name, producerProperties)) {
                    culprit = name;
                }
            }
            Object value = producer.get(culprit);
            throw new ConfigException(origin(s, culprit, producerProperties), value, "leaves delivery.timeout.ms ("
                    + delivery + ") below linger.ms + request.timeout.ms (" + lingerMs + " + " + request + "), which "
                    + "Kafka's producer refuses");
        }
    }

    /** Checks each raw property that {@code defs} know by Kafka's type and validator. */
    private static void checkRaw(String section, Map<String, String> raw, List<ConfigDef> defs) {
        raw.forEach((name, value) -> {
            for (ConfigDef def : defs) {
                ConfigDef.ConfigKey key = def.configKeys().get(name);
                if (key == null) {
                    continue;
                }
                try {
                    Object parsed = ConfigDef.parseType(name, value, key.type);
                    if (key.validator != null) {
                        key.validator.ensureValid(name, parsed);
                    }
                } catch (org.apache.kafka.common.config.ConfigException e) {
                    throw new ConfigException(section + "." + name, isSecret(name) ? "[hidden]" : value,
                            kafkaReason(name, e));
                }
            }
        });
    }

    /** Parses a whole client configuration as Kafka will; an error names the key it came from. */
    private Map<String, Object> parse(ConfigSection s, ConfigDef def, Map<String, Object> config,
                                      Map<String, String> ownRaw) {
        try {
            return def.parse(config);
        } catch (org.apache.kafka.common.config.ConfigException e) {
            java.util.regex.Matcher m = Pattern.compile("configuration \"?([\\w.\\-]+)").matcher(
                    String.valueOf(e.getMessage()));
            String name = m.find() ? m.group(1) : null;
            String key = name == null ? SECTION : origin(s, name, ownRaw);
            Object value = name == null ? null : config.get(name);
            throw new ConfigException(key, name != null && isSecret(name) ? "[hidden]" : String.valueOf(value),
                    name == null ? String.valueOf(e.getMessage()) : kafkaReason(name, e));
        }
    }

    /** Kafka's explanation without its "Invalid value ... for configuration ..." prefix, which may echo a secret. */
    private static String kafkaReason(String name, org.apache.kafka.common.config.ConfigException e) {
        String message = String.valueOf(e.getMessage());
        String marker = "for configuration " + name;
        int at = message.indexOf(marker);
        if (at >= 0) {
            String rest = message.substring(at + marker.length());
            return rest.startsWith(":") ? rest.substring(1).strip() : "rejected by Kafka";
        }
        return isSecret(name) ? "rejected by Kafka" : message;
    }

    private boolean isRaw(String name, Map<String, String> ownRaw) {
        return ownRaw.containsKey(name) || properties.containsKey(name);
    }

    /** The {@code kafka.*} key a client property's value came from. */
    private String origin(ConfigSection s, String name, Map<String, String> ownRaw) {
        if (ownRaw.containsKey(name)) {
            return s.key(ownRaw == producerProperties ? "producerProperties" : "consumerProperties") + "." + name;
        }
        if (properties.containsKey(name)) {
            return s.key("properties") + "." + name;
        }
        return switch (name) {
            case ProducerConfig.LINGER_MS_CONFIG -> s.key("linger");
            case ProducerConfig.BATCH_SIZE_CONFIG -> s.key("batchSize");
            case ProducerConfig.COMPRESSION_TYPE_CONFIG -> s.key("compression");
            case ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG -> s.key("idempotence");
            case ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG ->
                    s.key("deliveryTimeout");
            case ProducerConfig.MAX_REQUEST_SIZE_CONFIG -> s.key("maxRequestSize");
            default -> name.startsWith("ssl.") || name.startsWith("sasl.") || name.startsWith("security.")
                    ? s.key("security") : SECTION;
        };
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

    /** Sets a value Sluice derives, unless the raw {@code properties} set it (raw properties win, as documented). */
    private void own(Map<String, Object> p, String key, Object value) {
        if (!properties.containsKey(key)) {
            p.put(key, value);
        }
    }

    /** Producer properties: idempotent, batching and compression as configured, byte-array serializers. */
    Map<String, Object> producer(String clientIdSuffix) {
        Map<String, Object> p = common(clientIdSuffix);
        // Dead letters and delay-tier hand-offs count as done (and the source offset is committed past them) once
        // the publish is acknowledged: only acks=all makes that acknowledgement mean stored.
        own(p, ProducerConfig.ACKS_CONFIG, "all");
        own(p, ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, Boolean.toString(idempotence));
        own(p, ProducerConfig.LINGER_MS_CONFIG, Long.toString(linger.toMillis()));
        own(p, ProducerConfig.BATCH_SIZE_CONFIG, Integer.toString(batchSize));
        own(p, ProducerConfig.COMPRESSION_TYPE_CONFIG, compression.name().toLowerCase(Locale.ROOT));
        own(p, ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, Long.toString(deliveryTimeout.toMillis()));
        // Kafka requires delivery.timeout.ms >= linger.ms + request.timeout.ms.
        own(p, ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG,
                Long.toString(Math.min(REQUEST_TIMEOUT_MS, deliveryTimeout.toMillis() - linger.toMillis())));
        own(p, ProducerConfig.MAX_REQUEST_SIZE_CONFIG, Integer.toString(maxRequestSize));
        // The transport sends to a topic from the caller's thread only once its metadata is known; Kafka forgets the
        // metadata of a topic idle for 5 minutes (a dead-letter topic, say), and its next send would wait for it
        // again on the caller's thread. Keep it a day.
        own(p, ProducerConfig.METADATA_MAX_IDLE_CONFIG, Long.toString(TimeUnit.DAYS.toMillis(1)));
        p.putAll(producerProperties);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, org.apache.kafka.common.serialization.ByteArraySerializer.class);
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, org.apache.kafka.common.serialization.ByteArraySerializer.class);
        return p;
    }

    /**
     * Consumer properties: no auto-commit, cooperative-sticky assignment, read_committed (unless the raw properties
     * say otherwise), byte-array deserializers.
     */
    Map<String, Object> consumer(String clientIdSuffix, String group, boolean fromLatest) {
        Map<String, Object> p = common(clientIdSuffix);
        own(p, ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG,
                org.apache.kafka.clients.consumer.CooperativeStickyAssignor.class.getName());
        // Records of aborted or still open transactions are not messages anyone published.
        own(p, ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
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

    /** {@code kafka.idempotence}: whether the producer is idempotent; {@code acks} is {@code all} either way. */
    public boolean idempotence() {
        return idempotence;
    }

    /** The producer's largest request ({@code kafka.maxRequestSize}). */
    public int producerMaxRequestSize() {
        return maxRequestSize;
    }

    /** {@code kafka.deliveryTimeout}: how long the producer keeps retrying one send. */
    public Duration deliveryTimeout() {
        return deliveryTimeout;
    }

    /** {@code kafka.security.protocol}. */
    public Protocol protocol() {
        return protocol;
    }

    /** The delay tiers; empty when native delayed redelivery is off. */
    public DelayTiers delayTiers() {
        return delayTiers;
    }

    /**
     * How long a synchronous commit (on revoke and close) may take: the consumer's {@code default.api.timeout.ms} if
     * the raw properties set it, else 30 s.
     */
    Duration syncCommitTimeout() {
        Object ms = consumerProperties.getOrDefault(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG,
                properties.get(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG));
        if (ms == null) {
            return DEFAULT_SYNC_COMMIT_TIMEOUT;
        }
        return Duration.ofMillis(((Number) ConfigDef.parseType(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, ms,
                ConfigDef.Type.INT)).longValue());
    }

    /** True if the value of client property {@code name} must never be printed. */
    static boolean isSecret(String name) {
        return PASSWORD_TYPED.contains(name) || SECRET_KEY.matcher(name).matches();
    }

    private static Set<String> passwordTyped() {
        Set<String> names = new HashSet<>();
        for (ConfigDef def : List.of(PRODUCER_DEF, CONSUMER_DEF, ADMIN_DEF)) {
            def.configKeys().forEach((name, key) -> {
                if (key.type == ConfigDef.Type.PASSWORD) {
                    names.add(name);
                }
            });
        }
        return Set.copyOf(names);
    }

    private static Map<String, String> redacted(Map<String, String> m) {
        Map<String, String> out = new TreeMap<>();
        m.forEach((k, val) -> out.put(k, isSecret(k) ? "[hidden]" : val));
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
