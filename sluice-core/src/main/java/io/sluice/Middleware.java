package io.sluice;

/**
 * Wraps a {@link Handler} with behaviour around it: logging, deduplication, rate limiting, tracing. The first
 * middleware added to a subscription runs outermost: for {@code [a, b]} a call goes a → b → handler.
 *
 * <p>Retries, dead-lettering, the handler timeout and the in-flight bound are engine features, not middleware,
 * because they need the engine's view of the partition; middleware sees one attempt at a time.
 */
@FunctionalInterface
public interface Middleware {
    /** Returns a handler that does this middleware's work around {@code next}. */
    Handler apply(Handler next);
}
