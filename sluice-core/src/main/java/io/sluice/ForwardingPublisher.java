package io.sluice;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;

/**
 * A {@link Publisher} that hands everything to another: extend it and override {@link #publish} to add behaviour
 * around publishing (metrics, tracing, headers), as {@link Instrumentation#publisher} implementations do. Thread-safe
 * if the delegate is.
 */
public abstract class ForwardingPublisher implements Publisher {
    private final Publisher delegate;

    protected ForwardingPublisher(Publisher delegate) {
        this.delegate = java.util.Objects.requireNonNull(delegate, "delegate");
    }

    /** The publisher this one hands to. */
    protected final Publisher delegate() {
        return delegate;
    }

    @Override
    public CompletableFuture<Receipt> publish(String topic, Message message) {
        return delegate.publish(topic, message);
    }

    @Override
    public boolean flush(Duration timeout) throws InterruptedException {
        return delegate.flush(timeout);
    }

    @Override
    public void close() {
        delegate.close();
    }
}
