package io.sluice.brokers.nats;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sluice.brokers.BrokerFixtures;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.HttpURLConnection;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import java.util.function.Supplier;
import java.util.stream.Stream;

/**
 * A real {@code nats-server} with JetStream on 127.0.0.1, for tests and benchmarks: started with
 * {@link ProcessBuilder} on free ports and a private store directory, ready once its health endpoint answers, stopped
 * by pid with SIGTERM. Installs the Debian package {@code nats-server} with {@code apt-get} when the binary is
 * missing (CI runs as root on a fresh machine).
 *
 * <p>{@link #kill()} ends the process at once (SIGKILL) and {@link #restart()} starts it again on the same ports and
 * the same store, so clients reconnect to the address they know and find their streams again.
 *
 * <p>Thread-safe: start, stop, kill, restart and close are serialised by a lock; the accessors may be called from any
 * thread.
 */
public final class NatsServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(NatsServer.class);
    private static final ReentrantLock INSTALL_LOCK = new ReentrantLock();
    private static final long READY_TIMEOUT_MILLIS = 30_000;

    private final Builder settings;
    private final Path directory;
    private final boolean ownsDirectory;
    private volatile Process process;
    /** Serialises start, stop and restart; a lock rather than synchronized, as they block on the process. */
    private final ReentrantLock lifecycle = new ReentrantLock();
    private volatile int port;
    private volatile int monitorPort;

    private NatsServer(Builder settings) throws IOException {
        this.settings = settings;
        this.ownsDirectory = settings.directory == null;
        this.directory = ownsDirectory ? Files.createTempDirectory("sluice-nats-") : settings.directory;
        Files.createDirectories(directory);
    }

    /** Starts a server with JetStream and no authentication or TLS. */
    public static NatsServer start() {
        return builder().start();
    }

    public static Builder builder() {
        return new Builder();
    }

    /** The client URL: {@code nats://127.0.0.1:PORT}, or {@code tls://...} when TLS is on. */
    public String url() {
        return (settings.tlsCert != null ? "tls://" : "nats://") + "127.0.0.1:" + port;
    }

    public int port() {
        return port;
    }

    /** The HTTP monitoring port ({@code /healthz}, {@code /jsz}, {@code /varz}). */
    public int monitorPort() {
        return monitorPort;
    }

    /** The pid of the running server, or -1 when it is not running. */
    public long pid() {
        Process p = process;
        return p != null && p.isAlive() ? p.pid() : -1;
    }

    public boolean isRunning() {
        Process p = process;
        return p != null && p.isAlive();
    }

    /** The directory holding the JetStream store, the config file and the server log. */
    public Path directory() {
        return directory;
    }

    /** The server log so far, for diagnosing a failed test. */
    public String logText() {
        try {
            return Files.readString(directory.resolve("nats-server.log"));
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }

    private void launch(boolean reusePorts) {
        lifecycle.lock();
        try {
            launchLocked(reusePorts);
        } finally {
            lifecycle.unlock();
        }
    }

    private void launchLocked(boolean reusePorts) {
        String binary = ensureInstalled();
        try {
            deletePortsFiles();
            List<String> command = new ArrayList<>(List.of(binary, "-a", "127.0.0.1",
                    "-p", reusePorts ? Integer.toString(port) : "-1",
                    "-m", reusePorts ? Integer.toString(monitorPort) : "-1",
                    "--ports_file_dir", directory.toString()));
            if (settings.jetStream) {
                command.addAll(List.of("-js", "-sd", directory.resolve("store").toString()));
            }
            if (settings.tlsCert != null) {
                command.addAll(List.of("--tls", "--tlscert", settings.tlsCert.toString(),
                        "--tlskey", settings.tlsKey.toString()));
            }
            if (settings.user != null || settings.token != null) {
                // Credentials go into a config file, not the command line, so `ps` does not show them.
                Path config = directory.resolve("auth.conf");
                String auth = settings.token != null
                        ? "authorization {\n  token: " + quote(settings.token) + "\n}\n"
                        : "authorization {\n  user: " + quote(settings.user) + "\n  password: "
                        + quote(settings.password) + "\n}\n";
                Files.writeString(config, auth);
                command.addAll(List.of("-c", config.toString()));
            }
            ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(directory.resolve("nats-server.log").toFile()));
            process = pb.start();
            awaitReady(process);
            log.info("nats-server {} started: pid {}, {}, monitoring on port {}, store {}", version(binary),
                    process.pid(), url(), monitorPort, directory.resolve("store"));
        } catch (IOException e) {
            stopProcess(true);
            throw new UncheckedIOException("could not start nats-server in " + directory + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            stopProcess(true);
            throw e;
        }
    }

    private static String quote(String value) {
        return "\"" + value.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }

    private void awaitReady(Process p) throws IOException {
        long deadline = System.currentTimeMillis() + READY_TIMEOUT_MILLIS;
        Path portsFile = directory.resolve("nats-server_" + p.pid() + ".ports");
        while (System.currentTimeMillis() < deadline) {
            if (!p.isAlive()) {
                throw new IllegalStateException("nats-server exited with code " + p.exitValue()
                        + " before it was ready; its log:\n" + logText());
            }
            if (Files.exists(portsFile) && readPorts(portsFile) && healthy()) {
                return;
            }
            pause(20);
        }
        throw new IllegalStateException("nats-server did not become ready within " + READY_TIMEOUT_MILLIS
                + " ms; its log:\n" + logText());
    }

    private boolean readPorts(Path file) {
        try {
            JsonNode tree = new ObjectMapper().readTree(Files.readString(file));
            JsonNode nats = tree.path("nats").path(0);
            JsonNode monitoring = tree.path("monitoring").path(0);
            if (nats.isMissingNode() || monitoring.isMissingNode()) {
                return false;
            }
            port = URI.create(nats.asText()).getPort();
            monitorPort = URI.create(monitoring.asText()).getPort();
            return port > 0 && monitorPort > 0;
        } catch (IOException | IllegalArgumentException e) {
            return false; // written while we read it: try again
        }
    }

    private boolean healthy() {
        String path = settings.jetStream ? "/healthz?js-enabled-only=true" : "/healthz";
        try {
            HttpURLConnection c = (HttpURLConnection) URI.create("http://127.0.0.1:" + monitorPort + path).toURL()
                    .openConnection();
            c.setConnectTimeout(1000);
            c.setReadTimeout(1000);
            try {
                return c.getResponseCode() == 200;
            } finally {
                c.disconnect();
            }
        } catch (IOException e) {
            return false;
        }
    }

    private void deletePortsFiles() throws IOException {
        try (Stream<Path> files = Files.list(directory)) {
            for (Path f : files.filter(f -> f.getFileName().toString().endsWith(".ports")).toList()) {
                Files.deleteIfExists(f);
            }
        }
    }

    /** Stops the server with SIGTERM (a clean shutdown that flushes the store) and waits for it to exit. */
    public void stop() {
        lifecycle.lock();
        try {
            stopProcess(false);
        } finally {
            lifecycle.unlock();
        }
    }

    /** Ends the server at once with SIGKILL, as a crash would; data the server had not flushed may be lost. */
    public void kill() {
        lifecycle.lock();
        try {
            stopProcess(true);
        } finally {
            lifecycle.unlock();
        }
    }

    /** Starts the server again on the same ports and store after {@link #stop()} or {@link #kill()}. */
    public void restart() {
        lifecycle.lock();
        try {
            if (isRunning()) {
                throw new IllegalStateException("nats-server is still running (pid " + pid() + ")");
            }
            launchLocked(true);
        } finally {
            lifecycle.unlock();
        }
    }

    private void stopProcess(boolean forcibly) {
        Process p = process;
        if (p == null || !p.isAlive()) {
            return;
        }
        Optional<ProcessHandle> handle = ProcessHandle.of(p.pid());
        handle.ifPresent(h -> {
            if (forcibly) {
                h.destroyForcibly();
            } else {
                h.destroy(); // SIGTERM on Linux
            }
        });
        try {
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                log.warn("nats-server pid {} ignored SIGTERM for 10 s; killing it", p.pid());
                p.destroyForcibly();
                p.waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            p.destroyForcibly();
        }
        log.info("nats-server pid {} {}", p.pid(), forcibly ? "killed" : "stopped");
    }

    /** Stops the server and deletes its directory if this fixture created it. */
    @Override
    public void close() {
        lifecycle.lock();
        try {
            stopProcess(false);
            process = null;
            if (ownsDirectory) {
                BrokerFixtures.deleteTree(directory);
            }
        } finally {
            lifecycle.unlock();
        }
    }

    // ------------------------------------------------------------------ installation

    /** The path of the nats-server binary, installing the Debian package first when it is missing. */
    public static String ensureInstalled() {
        return ensureInstalled(NatsServer::findBinary, NatsServer::run);
    }

    /**
     * {@link #ensureInstalled()} with the binary lookup and the command runner passed in, so that a test can check
     * what happens on a machine without nats-server without uninstalling it from this one.
     */
    static String ensureInstalled(Supplier<Optional<Path>> findBinary, Consumer<List<String>> runCommand) {
        INSTALL_LOCK.lock();
        try {
            Optional<Path> found = findBinary.get();
            if (found.isPresent()) {
                return found.get().toString();
            }
            log.info("nats-server not found; installing the Debian package nats-server with apt-get");
            runCommand.accept(List.of("apt-get", "update"));
            runCommand.accept(List.of("apt-get", "install", "-y", "--no-install-recommends", "nats-server"));
            return findBinary.get().orElseThrow(() -> new IllegalStateException(
                    "apt-get installed nats-server but no nats-server binary is on the PATH or in /usr/sbin"))
                    .toString();
        } finally {
            INSTALL_LOCK.unlock();
        }
    }

    private static Optional<Path> findBinary() {
        List<Path> candidates = new ArrayList<>();
        String path = System.getenv("PATH");
        if (path != null) {
            for (String dir : path.split(java.io.File.pathSeparator)) {
                if (!dir.isEmpty()) {
                    candidates.add(Path.of(dir, "nats-server"));
                }
            }
        }
        candidates.add(Path.of("/usr/sbin/nats-server"));
        candidates.add(Path.of("/usr/bin/nats-server"));
        return candidates.stream().filter(Files::isExecutable).findFirst();
    }

    /** Runs {@code command} (at most 10 minutes), failing with its exit code and output unless it succeeds. */
    static void run(List<String> command) {
        try {
            Output out = runFor(command, 10, TimeUnit.MINUTES);
            if (out.exitCode != 0) {
                throw new IllegalStateException(String.join(" ", command) + " failed with exit code " + out.exitCode
                        + " (is this machine's user root, with Debian package sources?):\n" + out.text);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("could not run " + String.join(" ", command), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while running " + String.join(" ", command), e);
        }
    }

    private static String version(String binary) {
        try {
            return runFor(List.of(binary, "--version"), 10, TimeUnit.SECONDS).text.trim().replace("nats-server: ", "");
        } catch (IOException | IllegalStateException e) {
            return "(unknown version)";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "(unknown version)";
        }
    }

    private record Output(int exitCode, String text) {
    }

    /**
     * Runs {@code command} for at most {@code timeout}. Its output goes to a temporary file rather than a pipe, so a
     * command that hangs without closing its output still ends at the timeout (it is then killed).
     *
     * @throws IllegalStateException if it did not finish in time, with its output so far
     */
    private static Output runFor(List<String> command, long timeout, TimeUnit unit)
            throws IOException, InterruptedException {
        Path output = Files.createTempFile("sluice-nats-cmd-", ".log");
        try {
            ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(output.toFile());
            pb.environment().put("DEBIAN_FRONTEND", "noninteractive");
            Process p = pb.start();
            if (!p.waitFor(timeout, unit)) {
                p.destroyForcibly();
                p.waitFor(10, TimeUnit.SECONDS);
                throw new IllegalStateException(String.join(" ", command) + " did not finish within " + timeout + " "
                        + unit.name().toLowerCase(java.util.Locale.ROOT) + "; it was killed. Its output:\n"
                        + Files.readString(output));
            }
            return new Output(p.exitValue(), Files.readString(output));
        } finally {
            Files.deleteIfExists(output);
        }
    }

    private static void pause(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for nats-server", e);
        }
    }

    @Override
    public String toString() {
        return "NatsServer{" + url() + ", pid=" + pid() + ", dir=" + directory + '}';
    }

    /** Settings of a server to start. Not thread-safe. */
    public static final class Builder {
        private Path directory;
        private boolean jetStream = true;
        private String user;
        private String password;
        private String token;
        private Path tlsCert;
        private Path tlsKey;

        private Builder() {
        }

        /** Where the store, config and log go; a fresh temporary directory (deleted on close) by default. */
        public Builder directory(Path directory) {
            this.directory = directory;
            return this;
        }

        /** JetStream on (default) or off. */
        public Builder jetStream(boolean enabled) {
            this.jetStream = enabled;
            return this;
        }

        /** Clients must log in with this user and password. */
        public Builder userPassword(String user, String password) {
            this.user = user;
            this.password = password;
            this.token = null;
            return this;
        }

        /** Clients must present this token. */
        public Builder token(String token) {
            this.token = token;
            this.user = null;
            this.password = null;
            return this;
        }

        /** TLS with this PEM certificate chain and PEM private key (see {@link TlsMaterial}). */
        public Builder tls(Path certificatePem, Path privateKeyPem) {
            this.tlsCert = certificatePem;
            this.tlsKey = privateKeyPem;
            return this;
        }

        /** Starts the server and waits until it is ready. */
        public NatsServer start() {
            NatsServer server;
            try {
                server = new NatsServer(this);
            } catch (IOException e) {
                throw new UncheckedIOException("could not create a directory for nats-server", e);
            }
            server.launch(false);
            return server;
        }
    }
}
