package io.sluice.brokers.redis;

import io.sluice.brokers.BrokerFixtures;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A real {@code redis-server} on 127.0.0.1, for tests and benchmarks: started with {@link ProcessBuilder} on a free
 * port and a private directory (its config file, log, and the AOF or RDB files), ready once it answers {@code PING},
 * stopped by pid with SIGTERM. Installs the Debian package {@code redis-server} with {@code apt-get} when the binary
 * is missing (CI runs as root on a fresh machine; the package's install starts no service).
 *
 * <p>Persistence is off by default ({@code save ""}, {@code appendonly no}); {@link Builder#appendOnly} turns the
 * append-only file on with the given {@code appendfsync} policy, so that {@link #restart()} after {@link #stop()} or
 * {@link #kill()} finds the streams again. {@link Builder#user} adds an ACL user and disables the default user.
 * Settings, passwords included, go into a config file in the directory, never on the command line.
 *
 * <p>Thread-safe: start, stop, kill, restart and close are serialised by a lock; the accessors may be called from
 * any thread.
 */
public final class RedisServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(RedisServer.class);
    private static final long READY_TIMEOUT_MILLIS = 30_000;

    private final Builder settings;
    private final Path directory;
    private final boolean ownsDirectory;
    /** Serialises start, stop and restart; a lock rather than synchronized, as they block on the process. */
    private final ReentrantLock lifecycle = new ReentrantLock();
    private volatile Process process;
    private volatile int port;

    private RedisServer(Builder settings) throws IOException {
        this.settings = settings;
        this.ownsDirectory = settings.directory == null;
        this.directory = ownsDirectory ? Files.createTempDirectory("sluice-redis-") : settings.directory;
        Files.createDirectories(directory);
    }

    /** Starts a server without persistence, authentication or TLS. */
    public static RedisServer start() {
        return builder().start();
    }

    public static Builder builder() {
        return new Builder();
    }

    /** The client URI: {@code redis://127.0.0.1:PORT}, or {@code rediss://...} with TLS (no credentials in it). */
    public String uri() {
        return (settings.tlsCert != null ? "rediss://" : "redis://") + "127.0.0.1:" + port;
    }

    public String host() {
        return "127.0.0.1";
    }

    public int port() {
        return port;
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

    /** The directory holding the config file, the log and the persistence files. */
    public Path directory() {
        return directory;
    }

    /** The server log so far, for diagnosing a failed test. */
    public String logText() {
        try {
            return Files.readString(directory.resolve("redis-server.log"));
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }

    private void launchLocked(boolean reusePort) {
        String binary = ensureInstalled();
        try {
            if (!reusePort) {
                port = freePort();
            }
            Path config = directory.resolve("redis.conf");
            Files.writeString(config, configText());
            ProcessBuilder pb = new ProcessBuilder(binary, config.toString()).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(directory.resolve("redis-server.log").toFile()));
            process = pb.start();
            awaitReady(process);
            log.info("redis-server started: pid {}, {}, dir {}, appendonly {}", process.pid(), uri(), directory,
                    settings.appendFsync == null ? "no" : "yes (appendfsync " + settings.appendFsync + ")");
        } catch (IOException e) {
            stopProcess(true);
            throw new UncheckedIOException("could not start redis-server in " + directory + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            stopProcess(true);
            throw e;
        }
    }

    private String configText() {
        StringBuilder c = new StringBuilder();
        if (settings.tlsCert != null) {
            c.append("port 0\n");
            c.append("tls-port ").append(port).append('\n');
            c.append("tls-cert-file ").append(settings.tlsCert).append('\n');
            c.append("tls-key-file ").append(settings.tlsKey).append('\n');
            c.append("tls-ca-cert-file ").append(settings.tlsCa).append('\n');
            c.append("tls-auth-clients no\n");
        } else {
            c.append("port ").append(port).append('\n');
        }
        c.append("bind 127.0.0.1\n");
        c.append("dir ").append(directory).append('\n');
        c.append("daemonize no\n");
        c.append("save \"\"\n");
        if (settings.appendFsync != null) {
            c.append("appendonly yes\n");
            c.append("appendfsync ").append(settings.appendFsync).append('\n');
        } else {
            c.append("appendonly no\n");
        }
        if (settings.user != null) {
            c.append("user default off\n");
            c.append("user ").append(settings.user).append(" on >").append(settings.password)
                    .append(" ~* &* +@all\n");
        }
        return c.toString();
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket()) {
            s.setReuseAddress(true);
            s.bind(new InetSocketAddress("127.0.0.1", 0));
            return s.getLocalPort();
        }
    }

    private void awaitReady(Process p) {
        long deadline = System.currentTimeMillis() + READY_TIMEOUT_MILLIS;
        while (System.currentTimeMillis() < deadline) {
            if (!p.isAlive()) {
                throw new IllegalStateException("redis-server exited with code " + p.exitValue()
                        + " before it was ready; its log:\n" + logText());
            }
            if (answersPing()) {
                return;
            }
            pause(10);
        }
        throw new IllegalStateException("redis-server did not become ready within " + READY_TIMEOUT_MILLIS
                + " ms; its log:\n" + logText());
    }

    /**
     * True once the server answers a RESP {@code PING} (with {@code +PONG}, or with {@code -NOAUTH} when a user is
     * required: either way it is accepting commands; while loading the AOF it answers {@code -LOADING}).
     */
    private boolean answersPing() {
        try (Socket plain = new Socket()) {
            plain.connect(new InetSocketAddress("127.0.0.1", port), 500);
            plain.setSoTimeout(1000);
            Socket s = settings.tlsCert == null ? plain : trustingTls().createSocket(plain, "127.0.0.1", port, true);
            OutputStream out = s.getOutputStream();
            out.write("*1\r\n$4\r\nPING\r\n".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = s.getInputStream();
            byte[] buf = new byte[64];
            int n = in.read(buf);
            if (n <= 0) {
                return false;
            }
            String reply = new String(buf, 0, n, StandardCharsets.US_ASCII);
            return reply.startsWith("+PONG") || reply.startsWith("-NOAUTH");
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * A TLS socket factory that accepts any server certificate: only for asking our own freshly started server
     * whether it is up; clients under test verify the certificate against the CA.
     */
    private static javax.net.ssl.SSLSocketFactory trustingTls() throws IOException {
        try {
            javax.net.ssl.SSLContext ctx = javax.net.ssl.SSLContext.getInstance("TLS");
            ctx.init(null, new javax.net.ssl.TrustManager[] {new javax.net.ssl.X509TrustManager() {
                @Override
                public void checkClientTrusted(java.security.cert.X509Certificate[] chain, String authType) {
                }

                @Override
                public void checkServerTrusted(java.security.cert.X509Certificate[] chain, String authType) {
                }

                @Override
                public java.security.cert.X509Certificate[] getAcceptedIssuers() {
                    return new java.security.cert.X509Certificate[0];
                }
            }}, null);
            return ctx.getSocketFactory();
        } catch (java.security.GeneralSecurityException e) {
            throw new IOException("no TLS context: " + e.getMessage(), e);
        }
    }

    /** Stops the server with SIGTERM (a clean shutdown that flushes the AOF) and waits for it to exit. */
    public void stop() {
        lifecycle.lock();
        try {
            stopProcess(false);
        } finally {
            lifecycle.unlock();
        }
    }

    /** Ends the server at once with SIGKILL, as a crash would; what the fsync policy had not written is lost. */
    public void kill() {
        lifecycle.lock();
        try {
            stopProcess(true);
        } finally {
            lifecycle.unlock();
        }
    }

    /** Starts the server again on the same port and directory after {@link #stop()} or {@link #kill()}. */
    public void restart() {
        lifecycle.lock();
        try {
            if (isRunning()) {
                throw new IllegalStateException("redis-server is still running (pid " + pid() + ")");
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
        if (forcibly) {
            p.destroyForcibly();
        } else {
            p.destroy(); // SIGTERM on Linux
        }
        try {
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                log.warn("redis-server pid {} ignored SIGTERM for 10 s; killing it", p.pid());
                p.destroyForcibly();
                p.waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            p.destroyForcibly();
        }
        log.info("redis-server pid {} {}", p.pid(), forcibly ? "killed" : "stopped");
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

    /** The path of the redis-server binary, installing the Debian package first when it is missing. */
    public static String ensureInstalled() {
        BrokerFixtures.ensureDebianPackage("redis-server", () -> findBinary().isPresent());
        return findBinary().orElseThrow(() -> new IllegalStateException(
                "apt-get installed redis-server but no redis-server binary is on the PATH or in /usr/bin")).toString();
    }

    private static Optional<Path> findBinary() {
        List<Path> candidates = new ArrayList<>();
        String path = System.getenv("PATH");
        if (path != null) {
            for (String dir : path.split(java.io.File.pathSeparator)) {
                if (!dir.isEmpty()) {
                    candidates.add(Path.of(dir, "redis-server"));
                }
            }
        }
        candidates.add(Path.of("/usr/bin/redis-server"));
        candidates.add(Path.of("/usr/sbin/redis-server"));
        return candidates.stream().filter(Files::isExecutable).findFirst();
    }

    private static void pause(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for redis-server", e);
        }
    }

    @Override
    public String toString() {
        return "RedisServer{" + uri() + ", pid=" + pid() + ", dir=" + directory + '}';
    }

    /** Settings of a server to start. Not thread-safe. */
    public static final class Builder {
        private Path directory;
        private String appendFsync;
        private String user;
        private String password;
        private Path tlsCert;
        private Path tlsKey;
        private Path tlsCa;

        private Builder() {
        }

        /**
         * Serves TLS only (no plain port), with this certificate and key (PEM) and the CA that signed it (what
         * {@code io.sluice.brokers.nats.TlsMaterial} generates); clients are not asked for certificates.
         */
        public Builder tls(Path certificate, Path key, Path caCertificate) {
            this.tlsCert = certificate;
            this.tlsKey = key;
            this.tlsCa = caCertificate;
            return this;
        }

        /** Where the config, log and persistence files go; a fresh temporary directory (deleted on close) by default. */
        public Builder directory(Path directory) {
            this.directory = directory;
            return this;
        }

        /**
         * Turns on the append-only file with {@code appendfsync} {@code always}, {@code everysec} or {@code no}, so
         * the data survives {@link RedisServer#restart()}.
         */
        public Builder appendOnly(String appendFsync) {
            if (!List.of("always", "everysec", "no").contains(appendFsync)) {
                throw new IllegalArgumentException("appendfsync must be always, everysec or no, was " + appendFsync);
            }
            this.appendFsync = appendFsync;
            return this;
        }

        /** Clients must log in as this ACL user; the default user is disabled. */
        public Builder user(String user, String password) {
            if (user == null || user.isBlank() || password == null || password.isEmpty()
                    || (user + password).chars().anyMatch(c -> c <= ' ')) {
                throw new IllegalArgumentException("user and password must be non-empty, without spaces");
            }
            this.user = user;
            this.password = password;
            return this;
        }

        /** Starts the server and waits until it answers. */
        public RedisServer start() {
            RedisServer server;
            try {
                server = new RedisServer(this);
            } catch (IOException e) {
                throw new UncheckedIOException("could not create a directory for redis-server", e);
            }
            server.lifecycle.lock();
            try {
                server.launchLocked(false);
            } finally {
                server.lifecycle.unlock();
            }
            return server;
        }
    }
}
