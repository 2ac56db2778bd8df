package io.sluice;

import io.sluice.codec.Codecs;
import io.sluice.codec.TypedHandler;
import io.sluice.config.ConfigException;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.SluiceConfig;
import io.sluice.internal.engine.ConsumerEngine;
import io.sluice.internal.engine.EngineObserver;
import io.sluice.internal.publish.BoundedPublisher;
import io.sluice.spi.Transport;
import io.sluice.spi.TransportProvider;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.ServiceLoader;
import java.util.TreeSet;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A Sluice client: one transport, one shared {@link Publisher}, and the subscriptions started from it. Thread-safe;
 * create one per application and close it on shutdown: it closes its subscriptions gracefully, waits for each to
 * end by its own {@code shutdownTimeout}, then closes the publisher, then the transport if the client owns it (see
 * {@link Builder#sharedTransport}).
 *
 * <pre>{@code
 * try (Sluice sluice = Sluice.fromYaml(Path.of("sluice.yaml"))) {
 *     sluice.subscribe("orders", "billing", message -> bill(message.payloadAsString()));
 *     sluice.publisher().publish("orders", Message.of("customer-42", "{\"total\": 12}")).join();
 * }
 * }</pre>
 */
public final class Sluice implements Subscriber, AutoCloseable {
    private final Transport transport;
    /** False for a transport the caller shares between clients and closes itself. */
    private final boolean ownsTransport;
    private final SluiceConfig config;
    private final BoundedPublisher ownPublisher;
    private final Publisher publisher;
    private final Codecs codecs;
    private final Instrumentation instrumentation;
    private final List<Subscription> subscriptions = new CopyOnWriteArrayList<>();
    private final AtomicInteger members = new AtomicInteger();
    /** Orders listing a subscription and telling instrumentation against its end; never held across I/O. */
    private final Object listing = new Object();
    /**
     * Orders subscribes against close: {@code closed} is set, and subscribes in progress are counted, under it, so
     * close waits for each subscribe that got past the check to list its subscription before it takes its list, and
     * none starts an engine after. A lock, not a monitor: close may wait on a virtual thread. Never held across I/O.
     */
    private final ReentrantLock subscribing = new ReentrantLock();
    private final Condition noSubscribeInProgress = subscribing.newCondition();
    private int subscribesInProgress;
    private volatile boolean closed;

    private Sluice(Transport transport, boolean ownsTransport, SluiceConfig config, Codecs codecs,
                   Instrumentation instrumentation) {
        this.transport = transport;
        this.ownsTransport = ownsTransport;
        this.config = config;
        this.codecs = codecs;
        this.instrumentation = instrumentation;
        this.ownPublisher = new BoundedPublisher(transport.producer(), config.publisher());
        this.publisher = instrumentation.publisher(ownPublisher);
    }

    /** A builder, for a client with instrumentation (metrics, tracing) or over a transport built by hand. */
    public static Builder builder() {
        return new Builder();
    }

    /** A client configured by {@code config}, on the transport it names (found with {@link ServiceLoader}). */
    public static Sluice create(SluiceConfig config) {
        return builder().config(config).build();
    }

    /** A client from a {@code sluice.yaml} file. */
    public static Sluice fromYaml(Path file) throws IOException {
        return create(SluiceConfig.load(file));
    }

    /**
     * A client over an already built transport (tests, embedding), which it takes over: {@link #close()} closes it.
     * {@code config}'s transport name is ignored. To share one transport between clients, use
     * {@link Builder#sharedTransport}.
     */
    public static Sluice create(Transport transport, SluiceConfig config) {
        return builder().config(config).transport(transport).build();
    }

    /** Instantiates the transport {@code config} names, validating its settings section. */
    public static Transport createTransport(SluiceConfig config) {
        List<String> known = new ArrayList<>();
        for (TransportProvider provider : ServiceLoader.load(TransportProvider.class)) {
            if (provider.name().equals(config.transport())) {
                return provider.create(config.transportSettings(provider.name()));
            }
            known.add(provider.name());
        }
        String hint = config.transport().equals(SluiceConfig.DEFAULT_TRANSPORT)
                ? " (the default transport 'log' is in module io.sluice:sluice-log: add it, or set transport: memory)"
                : "";
        throw new ConfigException("transport", config.transport(), "no such transport on the class path; available: "
                + String.join(", ", new TreeSet<>(known)) + hint);
    }

    /** The shared publisher (wrapped by the client's instrumentation, if any). */
    public Publisher publisher() {
        return publisher;
    }

    public Codecs codecs() {
        return codecs;
    }

    public Transport transport() {
        return transport;
    }

    public SluiceConfig config() {
        return config;
    }

    /** Subscribes with the configuration's default consumer options. */
    public Subscription subscribe(String topic, String group, Handler handler) {
        return subscribe(topic, group, handler, config.consumer());
    }

    @Override
    public Subscription subscribe(String topic, String group, Handler handler, ConsumerOptions options) {
        return subscribe(topic, group, handler, options, DeliveryObserver.NONE);
    }

    /** Subscribes with payloads decoded as {@code type} by the codec their content type names. */
    public <T> Subscription subscribe(String topic, String group, Class<T> type, TypedHandler<T> handler) {
        return subscribe(topic, group, type, handler, config.consumer());
    }

    /**
     * Subscribes with payloads decoded as {@code type}, with {@code options} instead of the configuration's consumer
     * defaults. A payload that does not decode is dead-lettered at once with reason {@code undecodable} and
     * {@code attempts} 0: it never reached {@code handler}.
     */
    public <T> Subscription subscribe(String topic, String group, Class<T> type, TypedHandler<T> handler,
                                      ConsumerOptions options) {
        return subscribe(topic, group, codecs.handler(type, handler), options);
    }

    /** Subscribes with an observer of each message's outcome, for latency histograms and benchmarks. */
    public Subscription subscribe(String topic, String group, Handler handler, ConsumerOptions options,
                                  DeliveryObserver observer) {
        java.util.Objects.requireNonNull(observer, "observer");
        checkName("topic", topic);
        checkName("group", group);
        subscribing.lock();
        try {
            if (closed) {
                throw new IllegalStateException("this Sluice client is closed; cannot subscribe to " + topic);
            }
            subscribesInProgress++;
        } finally {
            subscribing.unlock();
        }
        try {
            String member = group + "-" + members.incrementAndGet();
            // Dead letters go through the client's own publisher: instrumentation must not touch their headers.
            ConsumerEngine engine = new ConsumerEngine(transport, topic, group, member, handler, options,
                    ownPublisher, engineObserver(observer), h -> instrumentation.handler(topic, group, h), this::ended);
            synchronized (listing) { // against an end listener running meanwhile on the engine's thread
                subscriptions.add(engine);
                instrumentation.subscribed(engine);
                if (engine.hasEnded()) {
                    ended(engine); // it ended before it was listed: its own end listener found nothing to remove
                }
            }
            return engine; // listed before close takes its list: close closes it
        } finally {
            subscribing.lock();
            try {
                if (--subscribesInProgress == 0) {
                    noSubscribeInProgress.signalAll();
                }
            } finally {
                subscribing.unlock();
            }
        }
    }

    /** The engine's own observer interface stays internal; this adapts the public one to it. */
    private static EngineObserver engineObserver(DeliveryObserver observer) {
        if (observer == DeliveryObserver.NONE) {
            return EngineObserver.NONE;
        }
        return new EngineObserver() {
            @Override
            public void finished(long latencyNanos, boolean deadLettered) {
                observer.finished(latencyNanos, deadLettered);
            }

            @Override
            public void retried(long delayNanos) {
                observer.retried(delayNanos);
            }
        };
    }

    /** Called once or twice per subscription (by its end listener, and by subscribe if it ended at once). */
    private void ended(Subscription subscription) {
        synchronized (listing) {
            if (subscriptions.remove(subscription)) {
                instrumentation.ended(subscription);
            }
        }
    }

    private static void checkName(String what, String value) {
        if (value == null || value.isBlank()) {
            throw new IllegalArgumentException("subscribe needs a " + what + ", got '" + value + "'");
        }
    }

    /**
     * Closes the subscriptions gracefully and in parallel, each by its own {@code consumer.shutdownTimeout}, and
     * only once every one has returned from its close closes the publisher, then the transport if this client owns
     * it. A subscription draining on a longer deadline than the client's default is waited for: closing the
     * publisher or transport under it would fail its dead letters and commits. An interrupt does not cut the wait
     * short; it is restored when close returns.
     */
    @Override
    public void close() {
        subscribing.lock();
        try {
            closed = true;
            while (subscribesInProgress > 0) {
                noSubscribeInProgress.awaitUninterruptibly(); // a subscribe only starts an engine and lists it
            }
        } finally {
            subscribing.unlock();
        }
        List<Thread> closers = new ArrayList<>();
        for (Subscription s : subscriptions) {
            closers.add(Thread.ofVirtual().name("sluice-close-" + s.topic() + "-" + s.group()).start(s::close));
        }
        boolean interrupted = false;
        for (Thread t : closers) {
            // Each closer is bounded by its subscription's own deadline (Subscription.close), not by the client's.
            while (t.isAlive()) {
                try {
                    t.join();
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        }
        try {
            ownPublisher.close();
        } finally {
            if (ownsTransport) {
                transport.close();
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Builds a {@link Sluice} client. Not thread-safe. */
    public static final class Builder {
        private SluiceConfig config;
        private Transport transport;
        private boolean transportShared;
        private Codecs codecs = Codecs.defaults();
        private final List<Instrumentation> instrumentation = new ArrayList<>();

        private Builder() {
        }

        /** The configuration; without {@link #transport}, also the transport it names. Default: all defaults (log). */
        public Builder config(SluiceConfig config) {
            this.config = config;
            return this;
        }

        /**
         * A transport built by hand (tests, embedding), handed over to the client: {@link Sluice#close()} closes it.
         * The configuration's transport name is then ignored.
         */
        public Builder transport(Transport transport) {
            this.transport = java.util.Objects.requireNonNull(transport, "transport");
            this.transportShared = false;
            return this;
        }

        /**
         * A transport the caller keeps owning, for instance one shared by several clients: {@link Sluice#close()}
         * closes this client's subscriptions and publisher but leaves the transport open; the caller closes it after
         * the last client. The configuration's transport name is then ignored.
         */
        public Builder sharedTransport(Transport transport) {
            this.transport = java.util.Objects.requireNonNull(transport, "transport");
            this.transportShared = true;
            return this;
        }

        /** The codecs typed handlers decode with. Default: {@link Codecs#defaults()}. */
        public Builder codecs(Codecs codecs) {
            this.codecs = codecs;
            return this;
        }

        /** Adds metrics, tracing or other instrumentation; the first added wraps outermost. */
        public Builder instrumentation(Instrumentation instrumentation) {
            this.instrumentation.add(java.util.Objects.requireNonNull(instrumentation, "instrumentation"));
            return this;
        }

        /** The client; an invalid configuration fails here, naming the key. */
        public Sluice build() {
            SluiceConfig c = config != null ? config : SluiceConfig.of(SluiceConfig.DEFAULT_TRANSPORT);
            Transport t = transport != null ? transport : createTransport(c);
            Instrumentation i = instrumentation.isEmpty() ? new Instrumentation() {
            } : Instrumentation.of(instrumentation);
            return new Sluice(t, transport == null || !transportShared, c, codecs, i);
        }
    }
}
