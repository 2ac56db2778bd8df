package io.sluice.redis;

import io.lettuce.core.ClientOptions;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.SocketOptions;
import io.lettuce.core.TimeoutOptions;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.async.RedisAsyncCommands;
import io.lettuce.core.codec.ByteArrayCodec;
import io.lettuce.core.codec.RedisCodec;
import io.lettuce.core.codec.StringCodec;
import io.sluice.spi.Acknowledgement;
import io.sluice.spi.ConsumerSpec;
import io.sluice.spi.PartitionListener;
import io.sluice.spi.Transport;
import io.sluice.spi.TransportCapabilities;
import io.sluice.spi.TransportConsumer;
import io.sluice.spi.TransportProducer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;

/**
 * The {@code redis} transport: Redis Streams through Lettuce's asynchronous API. A topic is {@code partitions}
 * streams; a consumer group is a Redis consumer group on each of them, whose members split the streams with leases
 * kept in Redis ({@link RedisMembership}); messages are acknowledged one by one with {@code XACK}.
 *
 * <p>Connections: one shared connection for publishing, acknowledging, claiming and the group's scripts (Lettuce
 * pipelines the commands of all threads on it), plus one per consumer for its blocking {@code XREADGROUP}, which
 * would otherwise hold up every command behind it. The shared one reconnects by itself after a server restart and
 * sends again what was queued or unanswered meanwhile (an {@code XADD} may then be stored twice: at-least-once);
 * a consumer reconnects its reader itself (see {@link #connectReader}). Commands fail after
 * {@code commandTimeout}.
 *
 * <p>Thread-safe. Durability is the server's: see docs/redis.md ({@code appendonly}, {@code appendfsync}).
 */
public final class RedisTransport implements Transport {
    private static final Logger log = LoggerFactory.getLogger(RedisTransport.class);
    private static final RedisCodec<String, byte[]> CODEC = RedisCodec.of(StringCodec.UTF8, ByteArrayCodec.INSTANCE);

    private final RedisSettings settings;
    private final RedisClient client;
    /** Connects consumers' readers: no automatic reconnect, so a read in flight when the link drops fails. */
    private final RedisClient readerClient;
    private final RedisURI uri;
    private final StatefulRedisConnection<String, byte[]> connection;
    private final RedisAsyncCommands<String, byte[]> commands;
    private final StreamNames names;
    private final RedisProducer producer;
    private final ScheduledExecutorService scheduler;

    public RedisTransport(RedisSettings settings) {
        this.settings = settings;
        this.uri = uri(settings);
        this.client = RedisClient.create(this.uri);
        client.setOptions(options(settings, true));
        this.readerClient = RedisClient.create(client.getResources(), this.uri);
        readerClient.setOptions(options(settings, false));
        try {
            this.connection = client.connect(CODEC);
        } catch (RuntimeException e) {
            readerClient.shutdown();
            client.shutdown();
            throw e;
        }
        this.commands = connection.async();
        this.names = new StreamNames(settings.keyPrefix(), settings.partitions());
        this.producer = new RedisProducer(commands, names, settings.partitions(), settings.maxLen(),
                settings.maxAge());
        this.scheduler = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "sluice-redis-heartbeat");
            t.setDaemon(true);
            return t;
        });
        log.info("redis transport connected: {}", settings);
    }

    /** The server's address, database, TLS and credentials, as Lettuce takes them. */
    static RedisURI uri(RedisSettings settings) {
        RedisURI.Builder uri = RedisURI.builder().withHost(settings.host()).withPort(settings.port())
                .withDatabase(settings.database()).withSsl(settings.tls()).withTimeout(settings.commandTimeout());
        char[] password = settings.password();
        if (password != null) {
            if (settings.user() != null) {
                uri.withAuthentication(settings.user(), password);
            } else {
                uri.withPassword(password);
            }
            // Lettuce keeps this array (a copy of the settings' one) to authenticate again on reconnect.
        }
        return uri.build();
    }

    /** Client options: reconnect or not, timeouts, and the CA to trust for TLS. */
    static ClientOptions options(RedisSettings settings, boolean autoReconnect) {
        ClientOptions.Builder b = ClientOptions.builder();
        if (settings.tlsCaFile() != null) {
            b.sslOptions(io.lettuce.core.SslOptions.builder().jdkSslProvider()
                    .trustManager(settings.tlsCaFile().toFile()).build());
        }
        return b
                .autoReconnect(autoReconnect)
                .socketOptions(SocketOptions.builder().connectTimeout(settings.commandTimeout()).build())
                .timeoutOptions(TimeoutOptions.enabled(settings.commandTimeout()))
                .build();
    }

    @Override
    public String name() {
        return "redis";
    }

    @Override
    public TransportCapabilities capabilities() {
        return new TransportCapabilities(true, true, true, Acknowledgement.PER_MESSAGE, true, false, false, -1);
    }

    @Override
    public TransportProducer producer() {
        return producer;
    }

    @Override
    public TransportConsumer consumer(ConsumerSpec spec, PartitionListener listener) {
        return new RedisConsumer(this, spec, listener);
    }

    /**
     * Publishes {@code message} to {@code topic} after {@code delay}: it waits in the topic's schedule in Redis (a
     * sorted set per partition scored by due time, server clock, and a hash holding the entry), and a member of any
     * consumer group that owns the partition when it is due appends it to the stream, with the schedule removal in
     * the same script: appended once, whichever and however many members try, and not lost if one dies. It is
     * appended only while some group consumes the topic. Completes once Redis stored it in the schedule.
     *
     * @param message a message with its id set (the publisher's {@code Message.withDefaults}), so duplicates can be
     *                told apart
     */
    public java.util.concurrent.CompletableFuture<Void> publishLater(String topic, io.sluice.Message message,
                                                                     java.time.Duration delay) {
        if (message.id() == null) {
            throw new IllegalArgumentException("publishLater needs a message with an id");
        }
        if (delay.isNegative()) {
            throw new IllegalArgumentException("publishLater delay must not be negative, was " + delay);
        }
        int p = producer.partitionFor(message);
        String schedule = names.publishSchedules(topic)[p];
        String entry = schedule + ":" + message.id();
        Object[] fields = StreamEntries.fields(message);
        byte[][] args = new byte[fields.length + 1][];
        args[0] = Long.toString(Math.max(0, delay.toMillis())).getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        for (int i = 0; i < fields.length; i++) {
            args[i + 1] = fields[i] instanceof String n ? n.getBytes(java.nio.charset.StandardCharsets.UTF_8)
                    : (byte[]) fields[i];
        }
        return commands.<Long>eval(SCHEDULE_PUBLISH, io.lettuce.core.ScriptOutputType.INTEGER,
                new String[] {schedule, entry}, args).toCompletableFuture().thenApply(due -> null);
    }

    /** KEYS: schedule, entry hash. ARGV: delay ms, then the entry's fields and values. */
    private static final String SCHEDULE_PUBLISH = "local t = redis.call('TIME') "
            + "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "
            + "redis.call('DEL', KEYS[2]) "
            + "redis.call('HSET', KEYS[2], unpack(ARGV, 2)) "
            + "redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), KEYS[2]) "
            + "return now + tonumber(ARGV[1])";

    RedisSettings settings() {
        return settings;
    }

    RedisAsyncCommands<String, byte[]> commands() {
        return commands;
    }

    StreamNames names() {
        return names;
    }

    ScheduledExecutorService scheduler() {
        return scheduler;
    }

    /**
     * A new connection of its own, for a consumer's blocking reads. It does not reconnect by itself: Lettuce would
     * send a read in flight again after reconnecting, and the entries the lost reply held would stay pending under
     * the consumer unseen. A failed read tells the consumer to read its own pending entries again instead.
     */
    io.lettuce.core.ConnectionFuture<StatefulRedisConnection<String, byte[]>> connectReader() {
        return readerClient.connectAsync(CODEC, uri);
    }

    @Override
    public void close() {
        scheduler.shutdownNow();
        try {
            connection.close();
        } finally {
            readerClient.shutdown();
            client.shutdown();
        }
    }

    @Override
    public String toString() {
        return "RedisTransport{" + settings + '}';
    }
}
