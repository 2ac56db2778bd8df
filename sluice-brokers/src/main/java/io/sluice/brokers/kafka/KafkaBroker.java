package io.sluice.brokers.kafka;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/**
 * A real single-node Kafka broker (KRaft, combined broker and controller) in a child JVM, for tests and benchmarks.
 * Listens on 127.0.0.1 at free ports with a temporary log directory; {@link #restart()} keeps the ports and the data,
 * so clients reconnect to the same address; {@link #close()} stops it (SIGTERM, then SIGKILL after a grace period)
 * and deletes its directory. The child also exits by itself when this JVM dies, and then deletes the directory.
 *
 * <p>Ports. A free port is found by binding and closing a socket, so another process may take it before the broker
 * binds it. The first start then tries again with fresh ports (a new directory layout, as the controller's address is
 * part of the formatted log); {@link #restart()} and {@link #resume()} must keep their ports, and wait (up to a
 * minute) for a taken port to come free.
 *
 * <p>The broker runs Kafka 4.3.1 from jars resolved by this module's build (listed in {@code kafka-broker.classpath});
 * none of them is on the caller's class path, so the caller may use any kafka-clients version.
 *
 * <p>Listeners: {@code PLAINTEXT} always; {@code SSL} when built with {@link Builder#tls()}; with
 * {@link Builder#saslUser} users, {@code SASL_PLAINTEXT} and (with TLS) {@code SASL_SSL}, each offering the mechanisms
 * {@code PLAIN}, {@code SCRAM-SHA-256} and {@code SCRAM-SHA-512} for every user.
 *
 * <p>Thread-safe: start, restart and stop are serialized.
 */
public final class KafkaBroker implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(KafkaBroker.class);
    private static final String CLASSPATH_RESOURCE = "kafka-broker.classpath";
    private static final String READY_LINE = "Kafka Server started";
    private static final Duration START_TIMEOUT = Duration.ofSeconds(120);
    private static final Duration STOP_GRACE = Duration.ofSeconds(30);
    private static final int START_ATTEMPTS = 5;
    /** How long a restart waits for one of its ports held by another process. */
    private static final Duration SAME_PORT_WAIT = Duration.ofSeconds(60);
    private static final List<String> SASL_MECHANISMS = List.of("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512");

    private static KafkaBroker shared;

    private final Path dir;
    private final int preferredPlaintextPort;
    private volatile int plaintextPort;
    private int controllerPort;
    private volatile int sslPort = -1;
    private volatile int saslPort = -1;
    private volatile int saslPlaintextPort = -1;
    private final TlsMaterial tls;
    private final Map<String, String> saslUsers;
    private final Map<String, String> extraProperties;
    private final int partitions;
    private final String clusterId;
    private Process process;
    private int starts;
    /** Read without the lock: a restart waiting for its port holds it. */
    private volatile int bindFailures;
    /** Stops the broker and deletes its directory if the JVM exits without {@link #close()}. */
    private final Thread shutdownHook = new Thread(this::closeQuietly, "sluice-kafka-broker-stop");

    private KafkaBroker(Builder b) throws IOException {
        this.dir = Files.createTempDirectory("sluice-kafka-");
        this.partitions = b.partitions;
        this.saslUsers = Map.copyOf(b.saslUsers);
        this.extraProperties = Map.copyOf(b.properties);
        this.tls = b.tls ? TlsMaterial.generate(dir.resolve("tls")) : null;
        this.preferredPlaintextPort = b.preferredPlaintextPort;
        this.clusterId = Base64.getUrlEncoder().withoutPadding().encodeToString(uuidBytes());
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Starts a broker with the defaults: PLAINTEXT only, 3 partitions per auto-created topic. */
    public static KafkaBroker start() {
        return builder().start();
    }

    /**
     * One PLAINTEXT broker shared by everything in this JVM (test classes of a suite), started on first use and
     * stopped when the JVM exits. Tests sharing it isolate themselves by topic and group names.
     */
    public static synchronized KafkaBroker shared() {
        if (shared == null || !shared.isRunning()) {
            shared = start(); // stopped by its shutdown hook when the JVM exits
        }
        return shared;
    }

    /** {@code host:port} of the PLAINTEXT listener. */
    public String bootstrapServers() {
        return "127.0.0.1:" + plaintextPort;
    }

    /** {@code host:port} of the SSL listener; only with {@link Builder#tls()}. */
    public String sslBootstrapServers() {
        if (sslPort < 0) {
            throw new IllegalStateException("this broker has no SSL listener; build it with tls()");
        }
        return "127.0.0.1:" + sslPort;
    }

    /** {@code host:port} of the SASL listener (SASL_SSL with TLS, else SASL_PLAINTEXT); only with SASL users. */
    public String saslBootstrapServers() {
        if (saslPort < 0) {
            throw new IllegalStateException("this broker has no SASL listener; build it with saslUser(...)");
        }
        return "127.0.0.1:" + saslPort;
    }

    /** {@code host:port} of the SASL_PLAINTEXT listener (SASL without TLS); only with SASL users. */
    public String saslPlaintextBootstrapServers() {
        if (saslPlaintextPort < 0) {
            throw new IllegalStateException("this broker has no SASL listener; build it with saslUser(...)");
        }
        return "127.0.0.1:" + saslPlaintextPort;
    }

    /** The TLS identity of the broker, when built with {@link Builder#tls()}; clients trust its trust store. */
    public Optional<TlsMaterial> tls() {
        return Optional.ofNullable(tls);
    }

    /** The broker's working directory (data, logs, configuration). */
    public Path directory() {
        return dir;
    }

    public synchronized boolean isRunning() {
        return process != null && process.isAlive();
    }

    /** Stops the broker gracefully and starts it again on the same ports with the same data. */
    public synchronized void restart() {
        stop();
        relaunch();
    }

    /** Stops the broker gracefully (SIGTERM), keeping its data for a later {@link #resume()}. */
    public synchronized void stop() {
        if (process == null) {
            return;
        }
        Process p = process;
        process = null;
        p.destroy();
        try {
            if (!p.waitFor(STOP_GRACE.toSeconds(), TimeUnit.SECONDS)) {
                log.warn("Kafka broker pid {} did not stop within {}; killing it", p.pid(), STOP_GRACE);
                p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }

    /** Kills the broker at once (SIGKILL), as a crash would; {@link #resume()} starts it again. */
    public synchronized void kill() {
        if (process == null) {
            return;
        }
        Process p = process;
        process = null;
        try {
            p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Starts a stopped or killed broker again on the same ports with the same data. */
    public synchronized void resume() {
        if (!isRunning()) {
            relaunch();
        }
    }

    /** Starts of the broker that failed because a port was taken, and were tried again. */
    int bindFailures() {
        return bindFailures;
    }

    /** Stops the broker and deletes its directory. */
    @Override
    public synchronized void close() {
        stop();
        Directories.deleteRecursively(dir);
        try {
            Runtime.getRuntime().removeShutdownHook(shutdownHook);
        } catch (IllegalStateException | IllegalArgumentException e) {
            // the JVM is already shutting down (this is the hook), or the broker never started
        }
    }

    private void closeQuietly() {
        try {
            close();
        } catch (RuntimeException e) {
            log.debug("stopping the Kafka broker at exit failed", e);
        }
    }

    // ------------------------------------------------------------------ launching

    private synchronized KafkaBroker firstStart() {
        BindFailure lastBindFailure = null;
        for (int attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
            try {
                choosePorts(attempt == 1 ? preferredPlaintextPort : 0);
                // The controller's address goes into the formatted log: a new port needs a new format.
                Directories.deleteRecursively(dir.resolve("data"));
                writeConfiguration();
                format();
            } catch (IOException e) {
                Directories.deleteRecursively(dir);
                throw new UncheckedIOException("formatting the Kafka log directory in " + dir + " failed", e);
            }
            try {
                launch();
                Runtime.getRuntime().addShutdownHook(shutdownHook);
                return this;
            } catch (BindFailure e) {
                bindFailures++;
                lastBindFailure = e;
                log.info("A port of the Kafka broker was taken before it could bind it; starting again on other ports");
            } catch (RuntimeException e) {
                Directories.deleteRecursively(dir);
                throw e;
            }
        }
        Directories.deleteRecursively(dir);
        throw new IllegalStateException("Kafka broker could not bind its ports in " + START_ATTEMPTS + " attempts",
                lastBindFailure);
    }

    /** Starts the broker again on its ports, waiting for one that another process holds to come free. */
    private void relaunch() {
        long deadline = System.nanoTime() + SAME_PORT_WAIT.toNanos();
        while (true) {
            try {
                launch();
                return;
            } catch (BindFailure e) {
                bindFailures++;
                if (System.nanoTime() - deadline > 0) {
                    throw new IllegalStateException("Kafka broker could not bind its ports (" + bootstrapServers()
                            + ") within " + SAME_PORT_WAIT + " of restarting", e);
                }
                log.info("A port of the Kafka broker at {} is taken; trying again", bootstrapServers());
                sleep(250);
            }
        }
    }

    /** Picks free ports for every listener; the PLAINTEXT listener takes {@code preferred} if not 0. */
    private void choosePorts(int preferred) throws IOException {
        int[] ports = freePorts(5);
        plaintextPort = preferred > 0 ? preferred : ports[0];
        controllerPort = ports[1];
        sslPort = tls != null ? ports[2] : -1;
        saslPort = saslUsers.isEmpty() ? -1 : tls != null ? ports[3] : ports[4];
        saslPlaintextPort = saslUsers.isEmpty() ? -1 : ports[4];
    }

    private void format() throws IOException {
        // "--cluster-id=" because a base64 id may start with '-', which the option parser would take for a flag.
        List<String> args = new ArrayList<>(List.of("kafka.tools.StorageTool", "format", "--cluster-id=" + clusterId,
                "-c", dir.resolve("server.properties").toString(), "--standalone"));
        saslUsers.forEach((user, password) -> {
            for (String mechanism : SASL_MECHANISMS.subList(1, SASL_MECHANISMS.size())) {
                args.add("--add-scram");
                args.add(mechanism + "=[name=" + user + ",password=" + password + "]");
            }
        });
        runJava(args, dir.resolve("format.log"), Duration.ofSeconds(60));
    }

    /** The broker exited while starting because a port it needs is taken. */
    private static final class BindFailure extends IllegalStateException {
        BindFailure(String message) {
            super(message);
        }
    }

    private void launch() {
        Path logFile = dir.resolve("broker-" + (++starts) + ".log");
        List<String> args = List.of(KafkaServerMain.class.getName(), Long.toString(ProcessHandle.current().pid()),
                dir.resolve("server.properties").toString(), dir.toString());
        long t0 = System.nanoTime();
        try {
            process = new ProcessBuilder(javaCommand(args)).directory(dir.toFile()).redirectErrorStream(true)
                    .redirectOutput(logFile.toFile()).start();
        } catch (IOException e) {
            throw new UncheckedIOException("starting the Kafka broker failed", e);
        }
        awaitReady(logFile);
        log.info("Kafka broker pid {} ready at {} in {} ms (directory {})", process.pid(), bootstrapServers(),
                (System.nanoTime() - t0) / 1_000_000, dir);
    }

    private void awaitReady(Path logFile) {
        long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
        while (System.nanoTime() - deadline < 0) {
            if (!process.isAlive()) {
                String message = "Kafka broker exited with status " + process.exitValue() + " while starting; end of "
                        + logFile + ":\n" + tail(logFile);
                process = null;
                if (contains(logFile, "Address already in use") || contains(logFile, "failed to bind")) {
                    throw new BindFailure(message);
                }
                throw new IllegalStateException(message);
            }
            if (contains(logFile, READY_LINE)) {
                return;
            }
            sleep(50);
        }
        process.destroyForcibly();
        throw new IllegalStateException("Kafka broker not ready within " + START_TIMEOUT + "; end of " + logFile
                + ":\n" + tail(logFile));
    }

    private void runJava(List<String> args, Path logFile, Duration timeout) throws IOException {
        Process p = new ProcessBuilder(javaCommand(args)).directory(dir.toFile()).redirectErrorStream(true)
                .redirectOutput(logFile.toFile()).start();
        try {
            if (!p.waitFor(timeout.toSeconds(), TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException(args.get(0) + " did not finish within " + timeout);
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while running " + args.get(0), e);
        }
        if (p.exitValue() != 0) {
            throw new IOException(args.get(0) + " exited with status " + p.exitValue() + ":\n" + tail(logFile));
        }
    }

    private List<String> javaCommand(List<String> args) {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(List.of("-Xms256m", "-Xmx1g", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
                "-Djava.awt.headless=true", "-Dlog4j2.configurationFile=" + dir.resolve("log4j2.properties"),
                "-cp", classPath()));
        command.addAll(args);
        return command;
    }

    private static String classPath() {
        String brokerJars;
        try (InputStream in = KafkaBroker.class.getResourceAsStream(CLASSPATH_RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException("resource " + CLASSPATH_RESOURCE + " is missing from sluice-brokers; "
                        + "rebuild the module (./mvnw -pl sluice-brokers install)");
            }
            brokerJars = new String(in.readAllBytes(), StandardCharsets.UTF_8).strip();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        for (String jar : brokerJars.split(java.io.File.pathSeparator)) {
            if (!Files.exists(Path.of(jar))) {
                throw new IllegalStateException("Kafka broker jar " + jar + " is not in the local Maven repository; "
                        + "rebuild sluice-brokers (./mvnw -pl sluice-brokers install) to resolve it");
            }
        }
        try {
            Path self = Path.of(KafkaServerMain.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            return self + java.io.File.pathSeparator + brokerJars;
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    private void writeConfiguration() throws IOException {
        Map<String, String> p = new LinkedHashMap<>();
        p.put("process.roles", "broker,controller");
        p.put("node.id", "1");
        p.put("controller.quorum.bootstrap.servers", "127.0.0.1:" + controllerPort);
        p.put("controller.listener.names", "CONTROLLER");
        p.put("inter.broker.listener.name", "PLAINTEXT");
        List<String> listeners = new ArrayList<>(List.of("PLAINTEXT://127.0.0.1:" + plaintextPort));
        if (sslPort > 0) {
            listeners.add("SSL://127.0.0.1:" + sslPort);
        }
        List<String> saslListeners = new ArrayList<>();
        if (saslPlaintextPort > 0) {
            listeners.add("SASL_PLAINTEXT://127.0.0.1:" + saslPlaintextPort);
            saslListeners.add("sasl_plaintext");
        }
        if (saslPort > 0 && saslPort != saslPlaintextPort) {
            listeners.add("SASL_SSL://127.0.0.1:" + saslPort);
            saslListeners.add("sasl_ssl");
        }
        p.put("advertised.listeners", String.join(",", listeners));
        listeners.add("CONTROLLER://127.0.0.1:" + controllerPort);
        p.put("listeners", String.join(",", listeners));
        p.put("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL,"
                + "SASL_PLAINTEXT:SASL_PLAINTEXT");
        p.put("log.dirs", dir.resolve("data").toString());
        p.put("num.partitions", Integer.toString(partitions));
        p.put("auto.create.topics.enable", "true");
        p.put("offsets.topic.replication.factor", "1");
        p.put("offsets.topic.num.partitions", "4");
        p.put("transaction.state.log.replication.factor", "1");
        p.put("transaction.state.log.min.isr", "1");
        p.put("transaction.state.log.num.partitions", "4");
        p.put("share.coordinator.state.topic.replication.factor", "1");
        p.put("share.coordinator.state.topic.min.isr", "1");
        p.put("group.initial.rebalance.delay.ms", "0");
        if (tls != null) {
            p.put("ssl.keystore.type", "PKCS12");
            p.put("ssl.keystore.location", tls.keyStore().toString());
            p.put("ssl.keystore.password", tls.password());
            p.put("ssl.key.password", tls.password());
            p.put("ssl.client.auth", "none");
        }
        if (!saslListeners.isEmpty()) {
            StringBuilder plain = new StringBuilder("org.apache.kafka.common.security.plain.PlainLoginModule required");
            saslUsers.forEach((user, password) -> plain.append(" user_").append(user).append("=\"").append(password)
                    .append('"'));
            plain.append(';');
            p.put("sasl.enabled.mechanisms", String.join(",", SASL_MECHANISMS));
            for (String listener : saslListeners) {
                p.put("listener.name." + listener + ".plain.sasl.jaas.config", plain.toString());
                // SCRAM credentials live in the cluster metadata (added when the log is formatted).
                for (String scram : List.of("scram-sha-256", "scram-sha-512")) {
                    p.put("listener.name." + listener + "." + scram + ".sasl.jaas.config",
                            "org.apache.kafka.common.security.scram.ScramLoginModule required;");
                }
            }
        }
        p.putAll(extraProperties);
        StringBuilder text = new StringBuilder();
        p.forEach((k, v) -> text.append(k).append('=').append(v.replace("\\", "\\\\")).append('\n'));
        Files.writeString(dir.resolve("server.properties"), text);
        Files.writeString(dir.resolve("log4j2.properties"), """
                status = warn
                appender.out.type = Console
                appender.out.name = OUT
                appender.out.layout.type = PatternLayout
                appender.out.layout.pattern = [%d] %p %m (%c)%n
                rootLogger.level = WARN
                rootLogger.appenderRef.out.ref = OUT
                logger.server.name = kafka.server.KafkaRaftServer
                logger.server.level = INFO
                logger.server.additivity = false
                logger.server.appenderRef.out.ref = OUT
                """);
    }

    // ------------------------------------------------------------------ helpers

    /** Distinct free ports: all sockets stay open until every port is picked, so none is handed out twice. */
    private static int[] freePorts(int count) throws IOException {
        List<ServerSocket> sockets = new ArrayList<>();
        try {
            int[] ports = new int[count];
            for (int i = 0; i < count; i++) {
                ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
                sockets.add(s);
                ports[i] = s.getLocalPort();
            }
            return ports;
        } finally {
            for (ServerSocket s : sockets) {
                s.close();
            }
        }
    }

    private static byte[] uuidBytes() {
        UUID u = UUID.randomUUID();
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(16);
        b.putLong(u.getMostSignificantBits()).putLong(u.getLeastSignificantBits());
        return b.array();
    }

    private static boolean contains(Path file, String text) {
        try {
            return Files.exists(file) && Files.readString(file, StandardCharsets.ISO_8859_1).contains(text);
        } catch (IOException e) {
            return false;
        }
    }

    private static String tail(Path file) {
        try {
            List<String> lines = Files.readAllLines(file, StandardCharsets.ISO_8859_1);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for the Kafka broker", e);
        }
    }

    @Override
    public String toString() {
        return "KafkaBroker{" + bootstrapServers() + ", dir=" + dir + ", running=" + isRunning() + '}';
    }

    /** Configures a {@link KafkaBroker}. Not thread-safe. */
    public static final class Builder {
        private int partitions = 3;
        private int preferredPlaintextPort;
        private boolean tls;
        private final Map<String, String> saslUsers = new LinkedHashMap<>();
        private final Map<String, String> properties = new LinkedHashMap<>();

        private Builder() {
        }

        /** Partitions of auto-created topics ({@code num.partitions}); at least 3 so a group of three can split one. */
        public Builder partitions(int partitions) {
            if (partitions < 1) {
                throw new IllegalArgumentException("partitions must be at least 1, got " + partitions);
            }
            this.partitions = partitions;
            return this;
        }

        /** Adds an SSL listener with a freshly generated self-signed certificate for 127.0.0.1 and localhost. */
        public Builder tls() {
            this.tls = true;
            return this;
        }

        /**
         * Adds a SASL user (PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512) and the SASL listeners: SASL_PLAINTEXT, and
         * SASL_SSL with {@link #tls()}. User names and passwords: letters, digits, {@code -} and {@code _}.
         */
        public Builder saslUser(String user, String password) {
            if (!user.matches("[\\w-]+") || !password.matches("[\\w-]+")) {
                throw new IllegalArgumentException("SASL user names and passwords may hold letters, digits, - and _");
            }
            saslUsers.put(user, password);
            return this;
        }

        /** Tries this PLAINTEXT port first (tests of the port retry); another free port if it is taken. */
        Builder preferredPlaintextPort(int port) {
            this.preferredPlaintextPort = port;
            return this;
        }

        /** Sets a broker property ({@code server.properties}), overriding the fixture's value. */
        public Builder property(String name, String value) {
            properties.put(name, value);
            return this;
        }

        /** Starts the broker and waits until it serves requests (about 3 s). */
        public KafkaBroker start() {
            try {
                return new KafkaBroker(this).firstStart();
            } catch (IOException e) {
                throw new UncheckedIOException("preparing a Kafka broker failed", e);
            }
        }
    }
}
