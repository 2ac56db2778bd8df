package io.sluice;

import java.util.List;

/**
 * Where metrics and tracing plug into a {@link Sluice} client (module sluice-observability has both). Called when
 * the client is built and when a subscription starts or ends, never per message: per-message work belongs in the
 * publisher or handler an implementation returns.
 *
 * <pre>{@code
 * Sluice sluice = Sluice.builder().config(config)
 *         .instrumentation(SluiceMetrics.of(meterRegistry))
 *         .instrumentation(SluiceTracing.of(openTelemetry))
 *         .build();
 * }</pre>
 *
 * <p>Implementations are called from the threads that build the client, subscribe and close; they must be
 * thread-safe.
 */
public interface Instrumentation {
    /**
     * The publisher applications get, wrapping the client's own. Dead letters do not go through it: they carry the
     * original message's headers untouched.
     */
    default Publisher publisher(Publisher publisher) {
        return publisher;
    }

    /** Wraps the handler of a subscription to {@code topic} in {@code group}, outside its own middleware. */
    default Handler handler(String topic, String group, Handler handler) {
        return handler;
    }

    /** A subscription started. */
    default void subscribed(Subscription subscription) {
    }

    /** A subscription ended: it will not fetch or handle anything more. */
    default void ended(Subscription subscription) {
    }

    /** Several instrumentations as one; the first wraps outermost. */
    static Instrumentation of(List<Instrumentation> all) {
        List<Instrumentation> list = List.copyOf(all);
        if (list.size() == 1) {
            return list.get(0);
        }
        return new Instrumentation() {
            @Override
            public Publisher publisher(Publisher publisher) {
                Publisher p = publisher;
                for (int i = list.size() - 1; i >= 0; i--) {
                    p = list.get(i).publisher(p);
                }
                return p;
            }

            @Override
            public Handler handler(String topic, String group, Handler handler) {
                Handler h = handler;
                for (int i = list.size() - 1; i >= 0; i--) {
                    h = list.get(i).handler(topic, group, h);
                }
                return h;
            }

            @Override
            public void subscribed(Subscription subscription) {
                list.forEach(i -> i.subscribed(subscription));
            }

            @Override
            public void ended(Subscription subscription) {
                list.forEach(i -> i.ended(subscription));
            }
        };
    }
}
