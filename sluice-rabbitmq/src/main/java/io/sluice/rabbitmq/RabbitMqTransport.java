package io.sluice.rabbitmq;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import io.sluice.SluiceException;
import io.sluice.spi.Acknowledgement;
import io.sluice.spi.ConsumerSpec;
import io.sluice.spi.PartitionListener;
import io.sluice.spi.Transport;
import io.sluice.spi.TransportCapabilities;
import io.sluice.spi.TransportConsumer;
import io.sluice.spi.TransportProducer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.util.HexFormat;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeoutException;

/**
 * The {@code rabbitmq} transport: AMQP 0-9-1 with amqp-client against RabbitMQ 3.10+. A topic is N partition queues
 * per consumer group (quorum by default) behind a topic exchange; see {@link Topology}, {@link RabbitMqProducer},
 * {@link RabbitMqConsumer} and docs/rabbitmq.md.
 *
 * <p>Two connections, as RabbitMQ recommends: one publishes, one consumes (so flow control on publishing never
 * stalls acks). Both recover automatically after a network failure or broker restart; the transport re-establishes
 * what it needs itself (topology recovery is off, because re-declaring single-active-consumer subscriptions behind
 * the group's back would break the hand-over order).
 *
 * <p>Thread-safe.
 */
public final class RabbitMqTransport implements Transport {
    private static final Logger log = LoggerFactory.getLogger(RabbitMqTransport.class);

    /** RabbitMQ 3.10's default {@code max_message_size} (128 MiB); a larger message closes the channel. */
    static final int MAX_MESSAGE_BYTES = 128 * 1024 * 1024;

    private final RabbitMqSettings settings;
    private final Topology topology;
    private final Connection publishing;
    private final Connection consuming;
    private final RabbitMqProducer producer;
    private final ScheduledExecutorService scheduler;
    private final String processToken = HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt());

    public RabbitMqTransport(RabbitMqSettings settings) {
        this.settings = settings;
        this.topology = new Topology(settings);
        ConnectionFactory factory = factory(settings);
        try {
            this.publishing = factory.newConnection("sluice-publish");
            this.consuming = factory.newConnection("sluice-consume");
        } catch (IOException | TimeoutException e) {
            throw new SluiceException("could not connect to RabbitMQ with " + settings + ": " + e.getMessage(), e);
        }
        this.producer = new RabbitMqProducer(publishing, topology);
        this.scheduler = Executors.newSingleThreadScheduledExecutor(r -> Thread.ofPlatform().daemon(true)
                .name("sluice-rabbitmq-groups").unstarted(r));
        log.info("rabbitmq transport connected: {}", settings);
    }

    static ConnectionFactory factory(RabbitMqSettings s) {
        ConnectionFactory f = new ConnectionFactory();
        f.setHost(s.host);
        f.setPort(s.port);
        f.setVirtualHost(s.vhost);
        f.setUsername(s.username);
        f.setPassword(new String(s.password));
        f.setConnectionTimeout((int) s.connectionTimeout.toMillis());
        f.setAutomaticRecoveryEnabled(true);
        f.setTopologyRecoveryEnabled(false);
        f.setNetworkRecoveryInterval(s.recoveryInterval.toMillis());
        f.setRequestedHeartbeat(10);
        if (s.tls) {
            try {
                f.useSslProtocol(sslContext(s));
                if (s.trustStore != null) {
                    f.enableHostnameVerification();
                }
            } catch (GeneralSecurityException | IOException e) {
                throw new io.sluice.config.ConfigException("rabbitmq.tls.trustStore",
                        String.valueOf(s.trustStore), "must be a PKCS#12 trust store its password opens ("
                        + e.getMessage() + ")");
            }
        }
        return f;
    }

    private static SSLContext sslContext(RabbitMqSettings s) throws GeneralSecurityException, IOException {
        SSLContext ctx = SSLContext.getInstance("TLS");
        if (s.trustStore == null) {
            ctx.init(null, null, null);
            return ctx;
        }
        KeyStore ks = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(s.trustStore)) {
            ks.load(in, s.trustStorePassword);
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(ks);
        ctx.init(null, tmf.getTrustManagers(), null);
        return ctx;
    }

    @Override
    public String name() {
        return "rabbitmq";
    }

    @Override
    public TransportCapabilities capabilities() {
        return new TransportCapabilities(true, true, true, Acknowledgement.PER_MESSAGE,
                !settings.delayTiers.isEmpty(), false, true, MAX_MESSAGE_BYTES);
    }

    @Override
    public TransportProducer producer() {
        return producer;
    }

    @Override
    public TransportConsumer consumer(ConsumerSpec spec, PartitionListener listener) {
        try (Channel ch = consuming.createChannel()) {
            topology.declareGroup(ch, spec.topic(), spec.group());
        } catch (IOException | TimeoutException | RuntimeException e) {
            throw new SluiceException("declaring group " + spec.group() + " of topic " + spec.topic()
                    + " on RabbitMQ failed: " + e.getMessage(), e);
        }
        String memberId = spec.memberId() + "-" + processToken;
        return new RabbitMqConsumer(consuming, topology, producer, spec, listener, onChange -> new RabbitMembership(consuming,
                scheduler, spec.topic(), spec.group(), memberId, topology.partitions(), settings, onChange));
    }

    private final java.util.concurrent.locks.ReentrantLock requestsLock = new java.util.concurrent.locks.ReentrantLock();
    private volatile RabbitMqRequests requests;

    /** Request/reply with direct reply-to, set up on first use. */
    RabbitMqRequests requests() {
        RabbitMqRequests r = requests;
        if (r == null) {
            requestsLock.lock();
            try {
                r = requests;
                if (r == null) {
                    r = new RabbitMqRequests(publishing, consuming);
                    requests = r;
                }
            } finally {
                requestsLock.unlock();
            }
        }
        return r;
    }

    /** The settings this transport runs with (secrets masked in {@code toString}). */
    public RabbitMqSettings settings() {
        return settings;
    }

    @Override
    public void close() {
        RabbitMqRequests r = requests;
        if (r != null) {
            r.close();
        }
        producer.close();
        scheduler.shutdownNow();
        for (Connection c : new Connection[] {consuming, publishing}) {
            try {
                c.close(5_000);
            } catch (IOException | RuntimeException e) {
                log.debug("closing a RabbitMQ connection failed: {}", e.toString());
            }
        }
    }
}
