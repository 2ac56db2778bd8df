/**
 * The {@code redis} transport: Redis Streams with consumer groups through Lettuce ({@link io.sluice.redis.RedisTransport},
 * settings {@link io.sluice.redis.RedisSettings}), and {@link io.sluice.redis.RedisDeduplicate}, idempotent
 * consumption with the handled ids in Redis for any transport. See docs/redis.md.
 */
package io.sluice.redis;
