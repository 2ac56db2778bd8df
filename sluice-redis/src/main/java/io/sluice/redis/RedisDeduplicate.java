package io.sluice.redis;

import io.lettuce.core.RedisClient;
import io.lettuce.core.SetArgs;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.async.RedisAsyncCommands;
import io.lettuce.core.codec.StringCodec;
import io.sluice.Handler;
import io.sluice.Message;
import io.sluice.Middleware;
import io.sluice.RetryLaterException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Idempotent consumption with the handled ids kept in Redis, so duplicates are skipped across restarts and across
 * the processes of a group, on any transport. A middleware: add it with {@code ConsumerOptions.middleware(...)}.
 *
 * <p>For each message with an id: if {@code <keyPrefix>dedup:<namespace>:<id>} exists, the handler is skipped and the
 * message acknowledged; otherwise the handler runs and, once it returned normally, the id is recorded
 * ({@code SET NX PX ttl}) before the middleware returns, that is before the engine acknowledges the message.
 *
 * <p>What is guaranteed, whatever step a consumer dies at:
 * <ul>
 * <li><b>No message is lost.</b> The id is recorded only after the handler succeeded, so a message whose record
 * exists was handled. Dying before the record: the message is redelivered and handled. Dying between the record and
 * the acknowledgement: it is redelivered, found recorded, and acknowledged without running the handler again.</li>
 * <li><b>Duplicates are skipped</b> for {@code ttl} after the first success: redeliveries, a publisher's retries,
 * the same message published twice.</li>
 * <li><b>Not exactly-once effects</b>: a consumer that dies after its handler's effects and before the record's
 * write reached Redis (one round trip) has the message handled again on redelivery. For exactly-once effects
 * record the id in the same transaction as the effects (the transactional inbox of sluice-jdbc).</li>
 * </ul>
 * If Redis cannot be asked whether the id was seen, the attempt fails (a {@link RetryLaterException}) and the
 * engine retries it: no duplicate on account of an outage. If the record cannot be written after a success, the
 * message still counts as handled (it is acknowledged) and the failure is logged: a later redelivery would run it
 * again.
 *
 * <p>Thread-safe: handlers of different keys call it concurrently over one pipelined connection; no lock.
 */
public final class RedisDeduplicate implements Middleware, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(RedisDeduplicate.class);

    /** Test seam: runs at the steps where a consumer may die. */
    interface Steps {
        Steps NONE = new Steps() {
        };

        default void handled(Message message) throws InterruptedException {
        }

        default void recorded(Message message) throws InterruptedException {
        }
    }

    private final RedisClient client;
    private final StatefulRedisConnection<String, String> connection;
    private final RedisAsyncCommands<String, String> redis;
    private final String prefix;
    private final SetArgs record;
    private final long timeoutMillis;
    private final Steps steps;

    private RedisDeduplicate(RedisSettings settings, String namespace, Duration ttl, Steps steps) {
        if (namespace == null || namespace.isBlank()) {
            throw new IllegalArgumentException("RedisDeduplicate namespace must not be blank");
        }
        if (ttl == null || ttl.toMillis() < 1) {
            throw new IllegalArgumentException("RedisDeduplicate ttl must be at least 1 ms, was " + ttl);
        }
        this.client = RedisClient.create(RedisTransport.uri(settings));
        client.setOptions(RedisTransport.options(settings, true));
        try {
            this.connection = client.connect(StringCodec.UTF8);
        } catch (RuntimeException e) {
            client.shutdown();
            throw e;
        }
        this.redis = connection.async();
        this.prefix = settings.keyPrefix() + "dedup:" + namespace + ":";
        this.record = SetArgs.Builder.nx().px(ttl.toMillis());
        this.timeoutMillis = settings.commandTimeout().toMillis();
        this.steps = steps;
    }

    /**
     * Skips messages handled in {@code namespace} (typically the consumer group) within the last {@code ttl},
     * keeping the ids in the Redis that {@code settings} name (its own connection).
     */
    public static RedisDeduplicate handledWithin(RedisSettings settings, String namespace, Duration ttl) {
        return new RedisDeduplicate(settings, namespace, ttl, Steps.NONE);
    }

    static RedisDeduplicate withSteps(RedisSettings settings, String namespace, Duration ttl, Steps steps) {
        return new RedisDeduplicate(settings, namespace, ttl, steps);
    }

    @Override
    public Handler apply(Handler next) {
        return message -> {
            String id = message.id();
            if (id == null) {
                next.handle(message);
                return;
            }
            String key = prefix + id;
            if (seen(key)) {
                return;
            }
            next.handle(message);
            steps.handled(message);
            try {
                redis.set(key, "1", record).get(timeoutMillis, TimeUnit.MILLISECONDS);
            } catch (ExecutionException | TimeoutException e) {
                log.warn("could not record handled message {} for deduplication (a redelivery would run it again): {}",
                        id, e instanceof ExecutionException ? e.getCause().toString() : e.toString());
                return;
            }
            steps.recorded(message);
        };
    }

    private boolean seen(String key) throws RetryLaterException, InterruptedException {
        try {
            return redis.exists(key).get(timeoutMillis, TimeUnit.MILLISECONDS) > 0;
        } catch (ExecutionException | TimeoutException e) {
            throw new RetryLaterException(Duration.ofSeconds(1), "cannot tell whether the message was handled "
                    + "already: " + (e instanceof ExecutionException ? e.getCause() : e));
        }
    }

    /** True if {@code message}'s id is recorded as handled. */
    public boolean seen(Message message) throws InterruptedException {
        try {
            return message.id() != null && seen(prefix + message.id());
        } catch (RetryLaterException e) {
            throw new IllegalStateException(e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        try {
            connection.close();
        } finally {
            client.shutdown();
        }
    }
}
