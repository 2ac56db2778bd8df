package io.sluice;

/**
 * Hears the outcome of each message of one subscription, for latency histograms and benchmarks (module
 * sluice-observability's meters need none of it). Passed to
 * {@link Sluice#subscribe(String, String, Handler, io.sluice.config.ConsumerOptions, DeliveryObserver)}.
 *
 * <p>Called on the subscription's own consumer thread, one call at a time, so an implementation may keep
 * unsynchronized state that nothing else reads concurrently. It must be quick and must not block: the consumer
 * thread dispatches every message of the subscription. An exception it throws is logged and ignored.
 */
public interface DeliveryObserver {
    /** Hears nothing. */
    DeliveryObserver NONE = new DeliveryObserver() {
    };

    /** A message finished (handled, or confirmed on the dead-letter topic) {@code latencyNanos} after it was fetched. */
    default void finished(long latencyNanos, boolean deadLettered) {
    }

    /** A failed attempt was scheduled to run again after {@code delayNanos}. */
    default void retried(long delayNanos) {
    }
}
