package io.sluice.middleware;

import io.sluice.Handler;
import io.sluice.Middleware;

/**
 * Reports how long each handler attempt took and whether it failed, to a callback (a Micrometer timer, a log line).
 * Stateless and thread-safe; the callback must be thread-safe and quick.
 */
public final class Timing implements Middleware {
    /** Receives one attempt's duration and outcome. */
    @FunctionalInterface
    public interface Recorder {
        void record(long nanos, boolean succeeded);
    }

    private final Recorder recorder;

    private Timing(Recorder recorder) {
        this.recorder = recorder;
    }

    public static Timing recordTo(Recorder recorder) {
        return new Timing(recorder);
    }

    @Override
    public Handler apply(Handler next) {
        return message -> {
            long t0 = System.nanoTime();
            boolean ok = false;
            try {
                next.handle(message);
                ok = true;
            } finally {
                recorder.record(System.nanoTime() - t0, ok);
            }
        };
    }
}
