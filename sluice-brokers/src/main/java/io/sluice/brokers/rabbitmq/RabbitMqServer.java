package io.sluice.brokers.rabbitmq;

import io.sluice.brokers.BrokerFixtures;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A real RabbitMQ node (Debian's rabbitmq-server 3.10) on 127.0.0.1, for tests and benchmarks, run as root without
 * systemd the way /work/shared/brokers.md describes: the scripts in {@code /usr/lib/rabbitmq/bin} (the
 * {@code /usr/sbin} wrappers switch users and then fail cookie authentication), a private {@code HOME} (the Erlang
 * cookie), mnesia and log directory, free AMQP, distribution and epmd ports, and epmd bound to 127.0.0.1. Ready once
 * the AMQP port accepts and {@code rabbitmqctl await_startup} returns; stopped with {@code rabbitmqctl shutdown}
 * (which waits for the VM), then {@code epmd -kill} on the node's own epmd port (epmd outlives the node). Installs
 * the Debian package with {@code apt-get} when the scripts are missing.
 *
 * <p>{@link #stop()} and {@link #restart()} keep the ports and the mnesia directory, so durable queues and their
 * messages survive and clients recover to the address they know.
 *
 * <p>Thread-safe: start, stop, restart and close are serialised by a lock (not a monitor: they block on processes);
 * the accessors may be called from any thread.
 */
public final class RabbitMqServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(RabbitMqServer.class);
    private static final Path BIN = Path.of("/usr/lib/rabbitmq/bin");
    private static final long READY_TIMEOUT_MILLIS = 90_000;

    private final Builder settings;
    private final Path directory;
    private final boolean ownsDirectory;
    private final ReentrantLock lifecycle = new ReentrantLock();
    private volatile Process process;
    private final int port;
    private final int distPort;
    private final int epmdPort;
    private final int tlsPort;
    private final String nodeName;

    private RabbitMqServer(Builder settings) throws IOException {
        this.settings = settings;
        this.ownsDirectory = settings.directory == null;
        this.directory = ownsDirectory ? Files.createTempDirectory("sluice-rabbitmq-") : settings.directory;
        Files.createDirectories(directory.resolve("home"));
        this.port = freePort();
        this.distPort = freePort();
        this.epmdPort = freePort();
        this.tlsPort = settings.tlsCert != null ? freePort() : -1;
        this.nodeName = "sluice" + port + "@localhost";
    }

    /** Starts a node with the default {@code guest}/{@code guest} user (allowed from loopback). */
    public static RabbitMqServer start() {
        return builder().start();
    }

    public static Builder builder() {
        return new Builder();
    }

    /** The AMQP port on 127.0.0.1. */
    public int port() {
        return port;
    }

    /** The client URI with the default user: {@code amqp://guest:guest@127.0.0.1:PORT/}. */
    public String uri() {
        return "amqp://" + settings.user + ":" + settings.password + "@127.0.0.1:" + port + "/";
    }

    /** The pid of the running node, or -1 when it is not running. */
    public long pid() {
        Process p = process;
        return p != null && p.isAlive() ? p.pid() : -1;
    }

    public boolean isRunning() {
        Process p = process;
        return p != null && p.isAlive();
    }

    /** The node's private directory (home, mnesia, logs). */
    public Path directory() {
        return directory;
    }

    /** The node's console output so far, for diagnosing a failed test. */
    public String logText() {
        try {
            return Files.readString(directory.resolve("rabbitmq-server.out"));
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }

    /** Runs {@code rabbitmqctl} against this node with {@code args}; returns its output, failing unless it succeeds. */
    public String rabbitmqctl(String... args) {
        List<String> command = new ArrayList<>(List.of(BIN.resolve("rabbitmqctl").toString(), "-q"));
        command.addAll(List.of(args));
        Output out = runFor(command, 60, TimeUnit.SECONDS);
        if (out.exitCode != 0) {
            throw new IllegalStateException("rabbitmqctl " + String.join(" ", args) + " failed with exit code "
                    + out.exitCode + ":\n" + out.text);
        }
        return out.text;
    }

    private Map<String, String> environment() {
        Path d = directory;
        return Map.ofEntries(
                Map.entry("HOME", d.resolve("home").toString()),
                Map.entry("RABBITMQ_NODENAME", nodeName),
                Map.entry("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1"),
                Map.entry("RABBITMQ_NODE_PORT", Integer.toString(port)),
                Map.entry("RABBITMQ_MNESIA_BASE", d.resolve("mnesia").toString()),
                Map.entry("RABBITMQ_LOG_BASE", d.resolve("log").toString()),
                Map.entry("RABBITMQ_ENABLED_PLUGINS_FILE", d.resolve("enabled_plugins").toString()),
                Map.entry("RABBITMQ_CONFIG_FILE", d.resolve("rabbitmq.conf").toString()),
                Map.entry("RABBITMQ_PID_FILE", d.resolve("rabbit.pid").toString()),
                Map.entry("ERL_EPMD_ADDRESS", "127.0.0.1"),
                Map.entry("ERL_EPMD_PORT", Integer.toString(epmdPort)),
                Map.entry("RABBITMQ_DIST_PORT", Integer.toString(distPort)),
                Map.entry("RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS", "-kernel inet_dist_use_interface {127,0,0,1}"));
    }

    private void writeConfig() throws IOException {
        Files.writeString(directory.resolve("enabled_plugins"), "[].\n");
        StringBuilder conf = new StringBuilder();
        conf.append("loopback_users = none\n");
        // Credentials go into the config file (mode of the private directory), never onto a command line.
        conf.append("default_user = ").append(settings.user).append('\n');
        conf.append("default_pass = ").append(settings.password).append('\n');
        conf.append("default_vhost = /\n");
        if (settings.tlsCert != null) {
            conf.append("listeners.ssl.default = 127.0.0.1:").append(tlsPort()).append('\n');
            conf.append("ssl_options.certfile = ").append(settings.tlsCert).append('\n');
            conf.append("ssl_options.keyfile = ").append(settings.tlsKey).append('\n');
            conf.append("ssl_options.verify = verify_none\n");
            conf.append("ssl_options.fail_if_no_peer_cert = false\n");
        }
        Files.writeString(directory.resolve("rabbitmq.conf"), conf.toString());
    }

    /** The TLS (amqps) port, when the node was built with {@link Builder#tls}; -1 otherwise. */
    public int tlsPort() {
        return tlsPort;
    }

    private void launch() {
        String script = ensureInstalled();
        try {
            writeConfig();
            ProcessBuilder pb = new ProcessBuilder(script).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(directory.resolve("rabbitmq-server.out").toFile()));
            pb.environment().putAll(environment());
            long started = System.nanoTime();
            process = pb.start();
            awaitReady(process);
            log.info("rabbitmq-server started in {} ms: pid {}, amqp://127.0.0.1:{}, node {}, dir {}",
                    (System.nanoTime() - started) / 1_000_000, process.pid(), port, nodeName, directory);
        } catch (IOException e) {
            stopLocked();
            throw new UncheckedIOException("could not start rabbitmq-server in " + directory + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            stopLocked();
            throw e;
        }
    }

    private void awaitReady(Process p) {
        long deadline = System.currentTimeMillis() + READY_TIMEOUT_MILLIS;
        while (!accepts(port)) {
            if (!p.isAlive()) {
                throw new IllegalStateException("rabbitmq-server exited with code " + p.exitValue()
                        + " before it was ready; its output:\n" + logText());
            }
            if (System.currentTimeMillis() > deadline) {
                throw new IllegalStateException("rabbitmq-server did not open port " + port + " within "
                        + READY_TIMEOUT_MILLIS + " ms; its output:\n" + logText());
            }
            pause(50);
        }
        rabbitmqctl("await_startup", "--timeout", "60");
    }

    private static boolean accepts(int port) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 500);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** Stops the node cleanly ({@code rabbitmqctl shutdown}, then its epmd); ports and data are kept. */
    public void stop() {
        lifecycle.lock();
        try {
            stopLocked();
        } finally {
            lifecycle.unlock();
        }
    }

    /** Starts the node again after {@link #stop()}, on the same ports and with the same data. */
    public void restart() {
        lifecycle.lock();
        try {
            if (isRunning()) {
                throw new IllegalStateException("rabbitmq-server is still running (pid " + pid() + ")");
            }
            launch();
        } finally {
            lifecycle.unlock();
        }
    }

    private void stopLocked() {
        Process p = process;
        if (p != null && p.isAlive()) {
            Output out = runFor(List.of(BIN.resolve("rabbitmqctl").toString(), "-q", "shutdown"), 60, TimeUnit.SECONDS);
            if (out.exitCode != 0) {
                log.warn("rabbitmqctl shutdown failed ({}); sending SIGTERM to pid {}: {}", out.exitCode, p.pid(),
                        out.text.trim());
                p.destroy();
            }
            try {
                if (!p.waitFor(30, TimeUnit.SECONDS)) {
                    log.warn("rabbitmq-server pid {} did not exit within 30 s; killing it", p.pid());
                    p.destroyForcibly();
                    p.waitFor(10, TimeUnit.SECONDS);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                p.destroyForcibly();
            }
            log.info("rabbitmq-server pid {} stopped", p.pid());
        }
        // epmd outlives the node; this one listens on the node's own port only, so killing it touches nobody else.
        // It refuses ("living nodes in database") until the stopped node (and any CLI node) has deregistered, which
        // can take a moment after the VM exited: try again for a few seconds.
        List<String> kill = List.of("epmd", "-port", Integer.toString(epmdPort), "-kill");
        for (int attempt = 0; attempt < 50; attempt++) {
            Output out = runFor(kill, 10, TimeUnit.SECONDS);
            if (out.text.contains("Killed") || out.text.contains("not running") || out.text.contains("Cannot connect")
                    || out.text.contains("failed to connect")) {
                return;
            }
            pause(100);
        }
        log.warn("epmd on port {} refused to stop; it may outlive this node", epmdPort);
    }

    /** Stops the node and deletes its directory if this fixture created it. */
    @Override
    public void close() {
        lifecycle.lock();
        try {
            stopLocked();
            process = null;
            if (ownsDirectory) {
                BrokerFixtures.deleteTree(directory);
            }
        } finally {
            lifecycle.unlock();
        }
    }

    // ------------------------------------------------------------------ installation

    /** The path of the {@code rabbitmq-server} script, installing the Debian package first when it is missing. */
    public static String ensureInstalled() {
        Path script = BIN.resolve("rabbitmq-server");
        BrokerFixtures.ensureDebianPackage("rabbitmq-server", () -> Files.isExecutable(script));
        if (!Files.isExecutable(script)) {
            throw new IllegalStateException("apt-get installed rabbitmq-server but " + script + " is missing");
        }
        return script.toString();
    }

    private record Output(int exitCode, String text) {
    }

    /** Runs {@code command} with this class's environment for at most {@code timeout}; output goes via a file. */
    private Output runFor(List<String> command, long timeout, TimeUnit unit) {
        return runFor(command, timeout, unit, environment());
    }

    private static Output runFor(List<String> command, long timeout, TimeUnit unit, Map<String, String> env) {
        try {
            Path output = Files.createTempFile("sluice-rabbitmq-cmd-", ".log");
            try {
                ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(output.toFile());
                pb.environment().put("DEBIAN_FRONTEND", "noninteractive");
                if (env != null) {
                    pb.environment().putAll(env);
                }
                Process p = pb.start();
                if (!p.waitFor(timeout, unit)) {
                    p.destroyForcibly();
                    p.waitFor(10, TimeUnit.SECONDS);
                    throw new IllegalStateException(String.join(" ", command) + " did not finish within " + timeout
                            + " " + unit.name().toLowerCase(java.util.Locale.ROOT) + "; it was killed. Its output:\n"
                            + Files.readString(output));
                }
                return new Output(p.exitValue(), Files.readString(output));
            } finally {
                Files.deleteIfExists(output);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("could not run " + String.join(" ", command), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while running " + String.join(" ", command), e);
        }
    }

    private static int freePort() {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException("no free port on 127.0.0.1", e);
        }
    }

    private static void pause(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for rabbitmq-server", e);
        }
    }

    @Override
    public String toString() {
        return "RabbitMqServer{amqp://127.0.0.1:" + port + ", node=" + nodeName + ", pid=" + pid() + ", dir="
                + directory + '}';
    }

    /** Settings of a node to start. Not thread-safe. */
    public static final class Builder {
        private Path directory;
        private String user = "guest";
        private String password = "guest";
        private Path tlsCert;
        private Path tlsKey;

        private Builder() {
        }

        /** Where mnesia, logs and the cookie go; a fresh temporary directory (deleted on close) by default. */
        public Builder directory(Path directory) {
            this.directory = directory;
            return this;
        }

        /** The node's default user (with full rights on vhost {@code /}) instead of guest/guest. */
        public Builder userPassword(String user, String password) {
            this.user = user;
            this.password = password;
            return this;
        }

        /** An additional TLS listener ({@link #tlsPort()}) with this PEM certificate chain and PEM private key. */
        public Builder tls(Path certificatePem, Path privateKeyPem) {
            this.tlsCert = certificatePem;
            this.tlsKey = privateKeyPem;
            return this;
        }

        /** Starts the node and waits until it is ready. */
        public RabbitMqServer start() {
            RabbitMqServer server;
            try {
                server = new RabbitMqServer(this);
            } catch (IOException e) {
                throw new UncheckedIOException("could not create a directory for rabbitmq-server", e);
            }
            server.lifecycle.lock();
            try {
                server.launch();
            } finally {
                server.lifecycle.unlock();
            }
            return server;
        }
    }
}
