package io.sluice.config;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.sluice.spi.TransportProvider;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.Set;
import java.util.TreeSet;

/**
 * A whole client configuration: which transport, its settings, publisher options and the default consumer options.
 * Immutable and thread-safe. Read from {@code sluice.yaml}:
 *
 * <pre>{@code
 * transport: log           # the default; or memory, kafka, nats: the one line that changes between backends
 * memory:
 *   partitions: 6
 * publisher:
 *   maxPendingPublishes: 10000
 * consumer:
 *   maxInFlight: 1000
 *   retry:
 *     maxAttempts: 5
 * }</pre>
 *
 * Every value is validated when the configuration is read; a bad one fails with {@link ConfigException} naming the
 * key, echoing the value and saying what is allowed. A top-level key must be {@code transport}, {@code publisher},
 * {@code consumer}, or the settings section of a transport: one found on the class path (see
 * {@link TransportProvider}) or the one {@code transport} selects. Anything else (a misspelt {@code consumers:})
 * fails naming the key, rather than leaving its settings silently unused. A section named after another transport
 * on the class path may stay in the file, so switching transports is one line.
 */
public final class SluiceConfig {
    /**
     * The transport used when {@code transport} is not set: the embedded durable log of module
     * {@code io.sluice:sluice-log}.
     */
    public static final String DEFAULT_TRANSPORT = "log";
    private static final Set<String> TOP_LEVEL = Set.of("transport", "publisher", "consumer");
    /**
     * Sluice's own transports, whose sections are accepted whether or not their module is on the class path: one
     * shared sluice.yaml may configure several, and a deployment ships only the jar of the one it selects.
     */
    private static final Set<String> FIRST_PARTY_TRANSPORTS = Set.of("memory", "log", "kafka", "nats", "rabbitmq",
            "redis");

    private final String transport;
    private final Map<String, Map<String, Object>> transportSections;
    private final PublisherOptions publisher;
    private final ConsumerOptions consumer;

    private SluiceConfig(String transport, Map<String, Map<String, Object>> transportSections,
                         PublisherOptions publisher, ConsumerOptions consumer) {
        this.transport = transport;
        this.transportSections = Map.copyOf(transportSections);
        this.publisher = publisher;
        this.consumer = consumer;
    }

    /** Defaults throughout, on {@code transport}. */
    public static SluiceConfig of(String transport) {
        return new SluiceConfig(Checks.notBlank("transport", transport), Map.of(), PublisherOptions.defaults(),
                ConsumerOptions.defaults());
    }

    /** Reads and validates a YAML file. */
    public static SluiceConfig load(Path file) throws IOException {
        return parse(Files.readString(file), file.toString());
    }

    /** Parses and validates YAML text; {@code source} names it in errors. */
    public static SluiceConfig parse(String yaml, String source) {
        Map<String, Object> tree;
        try {
            tree = new ObjectMapper(new YAMLFactory()).readValue(yaml, new TypeReference<LinkedHashMap<String, Object>>() {
            });
        } catch (JsonProcessingException e) {
            throw new ConfigException("", "Configuration " + source + " is not valid YAML: " + e.getOriginalMessage()
                    + (e.getLocation() == null ? "" : " at line " + e.getLocation().getLineNr()));
        }
        return fromTree(tree == null ? Map.of() : tree);
    }

    /**
     * Binds a parsed tree. Sections other than {@code publisher} and {@code consumer} are transport settings,
     * checked by that transport when it is created; a top-level key that is neither a core key nor the name of a
     * first-party transport, a transport on the class path or the selected one fails.
     */
    public static SluiceConfig fromTree(Map<String, ?> tree) {
        Set<String> transports = new TreeSet<>();
        for (TransportProvider provider : ServiceLoader.load(TransportProvider.class)) {
            transports.add(provider.name());
        }
        return fromTree(tree, transports);
    }

    /** {@link #fromTree(Map)} with the transport names known instead of those found on the class path. */
    @SuppressWarnings("unchecked")
    static SluiceConfig fromTree(Map<String, ?> tree, Set<String> knownTransports) {
        ConfigSection root = new ConfigSection("", tree);
        String transport = Checks.notBlank("transport", root.string("transport", DEFAULT_TRANSPORT));
        PublisherOptions publisher = PublisherOptions.from(root.section("publisher"));
        ConsumerOptions consumer = ConsumerOptions.from(root.section("consumer"));
        Set<String> known = new TreeSet<>(knownTransports);
        known.addAll(FIRST_PARTY_TRANSPORTS);
        known.add(transport); // its absence from the class path is reported when the client is built, more clearly
        Map<String, Map<String, Object>> sections = new LinkedHashMap<>();
        for (Map.Entry<String, ?> e : tree.entrySet()) {
            if (TOP_LEVEL.contains(e.getKey())) {
                continue;
            }
            if (!known.contains(e.getKey())) {
                throw new ConfigException(e.getKey(), "Unknown configuration key " + e.getKey()
                        + "; known top-level keys: " + String.join(", ", new TreeSet<>(TOP_LEVEL))
                        + ", and the settings section of a transport: " + String.join(", ", known)
                        + "; value given: " + ConfigSection.echo(e.getKey(), e.getValue()));
            }
            if (!(e.getValue() instanceof Map)) {
                throw new ConfigException(e.getKey(), e.getValue(), "must be a section of transport settings");
            }
            sections.put(e.getKey(), (Map<String, Object>) e.getValue());
        }
        return new SluiceConfig(transport, sections, publisher, consumer);
    }

    public String transport() {
        return transport;
    }

    /** The settings section of transport {@code name}; empty when the file has none. */
    public ConfigSection transportSettings(String name) {
        return new ConfigSection(name, transportSections.getOrDefault(name, Map.of()));
    }

    /** Names of all sections that are not {@code publisher} or {@code consumer}. */
    public Set<String> transportSectionNames() {
        return transportSections.keySet();
    }

    public PublisherOptions publisher() {
        return publisher;
    }

    public ConsumerOptions consumer() {
        return consumer;
    }

    /** This configuration with another transport and its settings. */
    public SluiceConfig withTransport(String name, Map<String, Object> settings) {
        Map<String, Map<String, Object>> sections = new LinkedHashMap<>(transportSections);
        sections.put(name, settings);
        return new SluiceConfig(Checks.notBlank("transport", name), sections, publisher, consumer);
    }

    public SluiceConfig withPublisher(PublisherOptions options) {
        return new SluiceConfig(transport, transportSections, options, consumer);
    }

    public SluiceConfig withConsumer(ConsumerOptions options) {
        return new SluiceConfig(transport, transportSections, publisher, options);
    }

    @Override
    public String toString() {
        return "SluiceConfig{transport=" + transport + ", sections=" + transportSections.keySet() + ", " + publisher
                + ", " + consumer + '}';
    }
}
