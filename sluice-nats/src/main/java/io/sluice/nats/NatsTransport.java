package io.sluice.nats;

import io.nats.client.Connection;
import io.nats.client.ConnectionListener;
import io.nats.client.ErrorListener;
import io.nats.client.JetStream;
import io.nats.client.JetStreamApiException;
import io.nats.client.KeyValue;
import io.nats.client.KeyValueManagement;
import io.nats.client.KeyValueOptions;
import io.nats.client.JetStreamManagement;
import io.nats.client.JetStreamOptions;
import io.nats.client.Nats;
import io.nats.client.Options;
import io.nats.client.api.KeyValueConfiguration;
import io.nats.client.api.StorageType;
import io.sluice.SluiceException;
import io.sluice.config.ConfigException;
import io.sluice.spi.Acknowledgement;
import io.sluice.spi.ConsumerSpec;
import io.sluice.spi.PartitionListener;
import io.sluice.spi.TransientTransportException;
import io.sluice.spi.Transport;
import io.sluice.spi.TransportCapabilities;
import io.sluice.spi.TransportConsumer;
import io.sluice.spi.TransportProducer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;

/**
 * The NATS transport ({@code transport: nats}): one jnats connection shared by the producer, every consumer and
 * request/reply. In {@link NatsSettings.Mode#JETSTREAM JetStream} mode (the default) topics are durable streams with
 * one subject per partition and groups consume through durable pull consumers, one member per partition at a time
 * (see {@link GroupMembership}); in {@link NatsSettings.Mode#CORE core} mode topics are plain subjects, groups are
 * queue groups, and delivery is at most once.
 *
 * <p>Reconnects are jnats': backoff {@code nats.reconnect.wait} plus random jitter up to
 * {@code nats.reconnect.jitter}, at most {@code nats.reconnect.maxReconnects} tries (-1: forever), publishes made
 * while disconnected held in a reconnect buffer of {@code nats.reconnect.bufferSize} bytes. Connection state changes
 * are logged and told to listeners added with {@link #onConnectionState}.
 *
 * <p>Thread-safe.
 */
public final class NatsTransport implements Transport {
    private static final Logger log = LoggerFactory.getLogger(NatsTransport.class);

    /** The connection's state as last reported by jnats. */
    public enum ConnectionState { CONNECTED, DISCONNECTED, RECONNECTED, CLOSED }

    private final NatsSettings settings;
    private final Connection connection;
    private final JetStream jetStream;
    private final JetStreamManagement management;
    private final StreamRegistry streams;
    private final TransportProducer producer;
    private final TransportCapabilities capabilities;
    private final List<Consumer<ConnectionState>> stateListeners = new CopyOnWriteArrayList<>();
    private final AtomicReference<CompletableFuture<KeyValue>> bucket =
            new AtomicReference<>();
    private final AtomicLong reconnects = new AtomicLong();
    private volatile ConnectionState state = ConnectionState.CONNECTED;
    /** Set once the first connect succeeded; a failing first connect is reported by the constructor alone. */
    private volatile boolean established;
    private volatile boolean closed;

    /**
     * Connects to {@code settings.servers()}.
     *
     * @throws SluiceException if no server accepts the connection, naming the servers and the reason (a refused
     *                         credential says so)
     */
    public NatsTransport(NatsSettings settings) {
        this.settings = settings;
        this.connection = connect(settings);
        this.established = true;
        try {
            if (settings.mode == NatsSettings.Mode.JETSTREAM) {
                JetStreamOptions jso = JetStreamOptions.builder().requestTimeout(settings.publishAckTimeout).build();
                try {
                    this.jetStream = connection.jetStream(jso);
                    this.management = connection.jetStreamManagement(jso);
                } catch (IOException e) {
                    throw new SluiceException("NATS server at " + NatsSettings.redacted(connection.getConnectedUrl())
                            + " does not offer JetStream (" + e.getMessage() + ")", e);
                }
                this.streams = new StreamRegistry(management, settings);
                checkJetStream();
                this.producer = new JetStreamProducer(connection, jetStream, streams, settings);
            } else {
                this.jetStream = null;
                this.management = null;
                this.streams = null;
                this.producer = new CoreProducer(connection);
            }
        } catch (RuntimeException e) {
            closeQuietly();
            throw e;
        }
        int maxPayload = (int) Math.min(Integer.MAX_VALUE, connection.getServerInfo().getMaxPayload());
        boolean jetStreamMode = settings.mode == NatsSettings.Mode.JETSTREAM;
        this.capabilities = jetStreamMode
                ? new TransportCapabilities(settings.storage == NatsSettings.Storage.FILE, true, true,
                Acknowledgement.PER_MESSAGE, true, true, true, maxPayload)
                : new TransportCapabilities(false, false, false, Acknowledgement.PER_MESSAGE, false, false, true,
                maxPayload);
        log.info("NATS transport connected to {} (server {} {}), {}", NatsSettings.redacted(connection.getConnectedUrl()),
                connection.getServerInfo().getServerId(), connection.getServerInfo().getVersion(), settings);
    }

    private void checkJetStream() {
        try {
            management.getAccountStatistics();
        } catch (IOException | JetStreamApiException e) {
            throw new SluiceException("NATS server at " + NatsSettings.redacted(connection.getConnectedUrl())
                    + " does not offer JetStream ("
                    + e.getMessage() + "); start nats-server with -js, or set nats.mode: core", e);
        }
    }

    private Connection connect(NatsSettings s) {
        LoggingErrorListener errors = new LoggingErrorListener();
        Options.Builder o = Options.builder()
                .servers(s.servers.toArray(String[]::new))
                .connectionTimeout(s.connectTimeout)
                .maxReconnects(s.maxReconnects)
                .reconnectWait(s.reconnectWait)
                .reconnectJitter(s.reconnectJitter)
                .reconnectJitterTls(s.reconnectJitter)
                .reconnectBufferSize(s.reconnectBufferBytes)
                // jnats gives an asynchronous JetStream publish this interval as its ack timeout, and fails timed-out
                // requests (publish acks, confirmed naks) when its clean-up timer runs at this interval: a publish not
                // acknowledged is failed between one and two nats.publish.ackTimeout after it was sent.
                .requestCleanupInterval(s.publishAckTimeout)
                .connectionName(s.connectionName != null ? s.connectionName : "sluice")
                .connectionListener(this::onConnectionEvent)
                .errorListener(errors);
        if (s.user != null) {
            o.userInfo(s.user.toCharArray(), s.password);
        }
        if (s.token != null) {
            o.token(s.token);
        }
        if (s.trustStore != null || s.keyStore != null) {
            o.sslContext(sslContext(s));
        }
        try {
            return Nats.connect(o.build());
        } catch (IOException e) {
            String reason = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
            String who = s.user != null ? " as user '" + s.user + "'" : s.token != null ? " with a token" : "";
            // jnats says only "Unable to connect" when the TLS handshake failed; the cause went to the error listener.
            javax.net.ssl.SSLException tls = sslCause(errors.lastException);
            String hint = reason.toLowerCase(Locale.ROOT).contains("authorization")
                    || reason.toLowerCase(Locale.ROOT).contains("authentication")
                    ? ": the server refused the credentials (check nats.user/nats.password or nats.token)"
                    : tls != null ? ": the TLS handshake failed (" + tls.getMessage() + "); is the server's "
                    + "certificate signed by a CA in nats.tls.trustStore" + (s.trustStore == null
                    ? " (none is set, so the JVM's default CAs are used)" : "") + ", and valid for the host?"
                    : "";
            throw new SluiceException("could not connect to NATS at " + NatsSettings.redacted(s.servers) + who + hint
                    + " (" + reason + ")", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new SluiceException("interrupted while connecting to NATS at " + NatsSettings.redacted(s.servers), e);
        }
    }

    private static javax.net.ssl.SSLException sslCause(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof javax.net.ssl.SSLException ssl) {
                return ssl;
            }
        }
        return null;
    }

    private static SSLContext sslContext(NatsSettings s) {
        try {
            TrustManagerFactory tmf = null;
            if (s.trustStore != null) {
                tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
                tmf.init(load(s.trustStore, s.trustStorePassword));
            }
            KeyManagerFactory kmf = null;
            if (s.keyStore != null) {
                kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
                kmf.init(load(s.keyStore, s.keyStorePassword), s.keyStorePassword);
            }
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(kmf == null ? null : kmf.getKeyManagers(), tmf == null ? null : tmf.getTrustManagers(), null);
            return ctx;
        } catch (IOException | GeneralSecurityException e) {
            throw new ConfigException("nats.tls", "Invalid configuration nats.tls: cannot load the "
                    + "trust or key store (" + e.getMessage() + ")");
        }
    }

    private static KeyStore load(Path file, char[] password) throws IOException, GeneralSecurityException {
        KeyStore ks = KeyStore.getInstance(KeyStore.getDefaultType());
        try (InputStream in = Files.newInputStream(file)) {
            ks.load(in, password);
        }
        return ks;
    }

    private void onConnectionEvent(Connection conn, ConnectionListener.Events event) {
        ConnectionState next = switch (event) {
            case CONNECTED -> ConnectionState.CONNECTED;
            case DISCONNECTED -> ConnectionState.DISCONNECTED;
            case RECONNECTED, RESUBSCRIBED -> ConnectionState.RECONNECTED;
            case CLOSED -> ConnectionState.CLOSED;
            default -> null;
        };
        if (next == null) {
            log.debug("NATS connection event {}", event);
            return;
        }
        if (event == ConnectionListener.Events.RECONNECTED) {
            reconnects.incrementAndGet();
        }
        if (!established) {
            // jnats reports the attempts of a failing first connect as disconnects and a close; the constructor's
            // exception says what went wrong, without a "reconnecting" warning that is not true.
            log.debug("NATS connection event {} while connecting", event);
            return;
        }
        if (next == state) {
            // jnats reports DISCONNECTED again after every failed reconnect attempt, and RESUBSCRIBED after
            // RECONNECTED: not changes of state.
            log.debug("NATS connection event {} (still {})", event, next);
            return;
        }
        if (next == ConnectionState.DISCONNECTED && !closed) {
            log.warn("NATS connection lost; reconnecting to {} (wait {}ms + jitter up to {}ms, max reconnects {}, "
                            + "publishes buffered up to {} bytes)", NatsSettings.redacted(settings.servers), settings.reconnectWait.toMillis(),
                    settings.reconnectJitter.toMillis(), settings.maxReconnects, settings.reconnectBufferBytes);
        } else if (next == ConnectionState.RECONNECTED) {
            log.info("NATS connection re-established to {}", NatsSettings.redacted(conn.getConnectedUrl()));
        } else if (next == ConnectionState.CLOSED && !closed) {
            log.error("NATS connection closed for good (reconnect attempts exhausted or fatal error); publishes and "
                    + "consumers of this transport fail from now on");
        } else if (next == ConnectionState.CLOSED) {
            log.info("NATS connection closed (the transport was closed)");
        }
        state = next;
        for (Consumer<ConnectionState> l : stateListeners) {
            try {
                l.accept(next);
            } catch (RuntimeException e) {
                log.warn("NATS connection state listener failed", e);
            }
        }
    }

    /**
     * How many times the connection was re-established. Consumers compare it with the value they last saw: pulls
     * sent before a reconnect may still be alive on the server, and membership seen while away is stale.
     */
    long reconnects() {
        return reconnects.get();
    }

    /** The connection's state as last reported. */
    public ConnectionState connectionState() {
        return state;
    }

    /**
     * Adds a listener told of every connection state change (not of repeated reports of the same state, such as each
     * failed reconnect attempt), on jnats' callback thread, in order; it must return quickly.
     */
    public void onConnectionState(Consumer<ConnectionState> listener) {
        stateListeners.add(listener);
    }

    /** The mode this transport runs in. */
    public NatsSettings.Mode mode() {
        return settings.mode;
    }

    NatsSettings settings() {
        return settings;
    }

    /** The underlying jnats connection, for operations Sluice does not wrap. Do not close it. */
    public Connection connection() {
        return connection;
    }

    /**
     * The key-value bucket holding group membership and partition leases, created on first use (history 1, file
     * storage, entries expire a day after their last write so members that crashed leave no litter).
     */
    KeyValue groupBucket() {
        CompletableFuture<KeyValue> f = bucket.get();
        if (f == null) {
            CompletableFuture<KeyValue> mine = new CompletableFuture<>();
            if (bucket.compareAndSet(null, mine)) {
                try {
                    mine.complete(openBucket());
                } catch (RuntimeException e) {
                    bucket.set(null);
                    mine.completeExceptionally(e);
                }
            }
            f = bucket.get() == null ? mine : bucket.get();
        }
        try {
            return f.join();
        } catch (CompletionException e) {
            throw e.getCause() instanceof RuntimeException re ? re : e;
        }
    }

    private KeyValue openBucket() {
        String name = settings.groupBucket;
        try {
            KeyValueManagement kvm = connection.keyValueManagement();
            try {
                kvm.getStatus(name);
            } catch (JetStreamApiException notFound) {
                try {
                    kvm.create(KeyValueConfiguration.builder().name(name).maxHistoryPerKey(1)
                            .storageType(settings.storage == NatsSettings.Storage.FILE
                                    ? StorageType.File : StorageType.Memory)
                            .ttl(Duration.ofDays(1)).description("Sluice consumer groups: heartbeats and leases")
                            .build());
                } catch (JetStreamApiException raced) {
                    kvm.getStatus(name); // created by another client meanwhile
                }
            }
            // Heartbeats and lease writes give up after the publish ack timeout rather than a library default.
            return connection.keyValue(name, KeyValueOptions.builder().jsRequestTimeout(settings.publishAckTimeout)
                    .build());
        } catch (IOException | JetStreamApiException e) {
            throw new TransientTransportException("could not open the NATS key-value bucket " + name
                    + " (nats.group.bucket) for consumer groups: " + e.getMessage(), e);
        }
    }

    StreamRegistry streams() {
        return streams;
    }

    JetStreamManagement management() {
        return management;
    }

    @Override
    public String name() {
        return "nats";
    }

    @Override
    public TransportCapabilities capabilities() {
        return capabilities;
    }

    @Override
    public TransportProducer producer() {
        return producer;
    }

    @Override
    public TransportConsumer consumer(ConsumerSpec spec, PartitionListener listener) {
        if (settings.mode == NatsSettings.Mode.CORE) {
            return new CoreConsumer(this, spec, listener);
        }
        return new JetStreamConsumer(this, spec, listener);
    }

    /** Request/reply over this transport's connection. */
    public NatsRequests requests() {
        return new NatsRequests(connection);
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (producer instanceof JetStreamProducer p) {
            p.awaitPending(settings.publishAckTimeout);
        }
        closeQuietly();
    }

    private void closeQuietly() {
        try {
            connection.flush(Duration.ofSeconds(2));
        } catch (Exception e) {
            // best effort: acks and naks still queued are redelivered by the broker anyway
        }
        try {
            connection.close();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public String toString() {
        return "NatsTransport{" + settings + ", state=" + state + '}';
    }

    /** Sends jnats' asynchronous errors to the log instead of standard error. */
    private static final class LoggingErrorListener implements ErrorListener {
        /** The last exception jnats reported, to explain a failed first connect. */
        volatile Exception lastException;

        @Override
        public void errorOccurred(Connection conn, String error) {
            log.warn("NATS server reported an error: {}", error);
        }

        @Override
        public void exceptionOccurred(Connection conn, Exception exp) {
            lastException = exp;
            log.debug("NATS client exception: {}", exp.toString());
        }

        @Override
        public void slowConsumerDetected(Connection conn, io.nats.client.Consumer consumer) {
            log.warn("NATS slow consumer: the client dropped messages for a subscription that fell behind");
        }
    }
}
