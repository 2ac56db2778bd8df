package io.sluice.redis;

import io.lettuce.core.RedisCommandTimeoutException;
import io.lettuce.core.RedisConnectionException;
import io.lettuce.core.RedisException;
import io.lettuce.core.XAddArgs;
import io.lettuce.core.api.async.RedisAsyncCommands;
import io.sluice.Message;
import io.sluice.Receipt;
import io.sluice.spi.TransientTransportException;
import io.sluice.spi.TransportProducer;
import io.sluice.spi.support.KeyPartitioner;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * Publishes with {@code XADD} to the partition stream of the message's key ({@link KeyPartitioner}, the mapping of
 * every Sluice transport), over the transport's shared connection: Lettuce writes commands as they come and matches
 * replies in order, so concurrent publishes are pipelined without waiting for each other. The receipt carries the
 * entry id as an offset ({@link StreamEntries#offset}).
 *
 * <p>Thread-safe: no lock; per message it allocates the field array and the futures.
 */
final class RedisProducer implements TransportProducer {
    private final RedisAsyncCommands<String, byte[]> redis;
    private final StreamNames names;
    private final KeyPartitioner partitioner;
    private final XAddArgs trim;
    private final long maxAgeMillis;

    RedisProducer(RedisAsyncCommands<String, byte[]> redis, StreamNames names, int partitions, long maxLen,
                  java.time.Duration maxAge) {
        this.redis = redis;
        this.names = names;
        this.partitioner = new KeyPartitioner(partitions);
        this.trim = maxLen > 0 ? new XAddArgs().maxlen(maxLen).approximateTrimming() : null;
        this.maxAgeMillis = maxAge.toMillis();
    }

    /** The partition {@code message} goes to. */
    int partitionFor(Message message) {
        return partitioner.partitionFor(message);
    }

    @Override
    public CompletableFuture<Receipt> send(String topic, Message message) {
        int p = partitioner.partitionFor(message);
        String stream = names.streams(topic)[p];
        Object[] fields = StreamEntries.fields(message);
        XAddArgs args = trim;
        if (maxAgeMillis > 0) { // entry ids start with their ms timestamp: MINID trims those older than maxAge
            args = new XAddArgs().minId((System.currentTimeMillis() - maxAgeMillis) + "-0").approximateTrimming();
        }
        CompletableFuture<String> id = (args != null ? redis.xadd(stream, args, fields) : redis.xadd(stream, fields))
                .toCompletableFuture();
        return id.handle((entryId, failure) -> {
            if (failure != null) {
                throw new CompletionException(classify(failure));
            }
            return new Receipt(topic, p, StreamEntries.offset(entryId), message.id());
        });
    }

    private static Throwable classify(Throwable failure) {
        Throwable f = failure instanceof CompletionException && failure.getCause() != null ? failure.getCause()
                : failure;
        if (isTransientFailure(f)) {
            return new TransientTransportException("XADD failed: " + f.getMessage(), f);
        }
        return f;
    }

    static boolean isTransientFailure(Throwable f) {
        if (f instanceof RedisCommandTimeoutException || f instanceof RedisConnectionException) {
            return true;
        }
        String m = f.getMessage();
        return f instanceof RedisException && m != null
                && (m.startsWith("LOADING") || m.startsWith("TRYAGAIN") || m.contains("Connection closed")
                || m.contains("Connection reset") || m.startsWith("BUSY"));
    }
}
