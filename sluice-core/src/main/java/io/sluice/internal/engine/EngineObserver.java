package io.sluice.internal.engine;

/**
 * Hears what the engine does, for metrics and benchmarks. Called on the engine's owner thread only, so an
 * implementation may keep unsynchronized state if nothing else reads it concurrently; it must be quick.
 */
public interface EngineObserver {
    EngineObserver NONE = new EngineObserver() {
    };

    /** A message finished (handled or dead-lettered) {@code latencyNanos} after it was fetched. */
    default void finished(long latencyNanos, boolean deadLettered) {
    }

    /** A failed attempt was scheduled again after {@code delayNanos}. */
    default void retried(long delayNanos) {
    }
}
