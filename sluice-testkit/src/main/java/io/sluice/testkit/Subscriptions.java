package io.sluice.testkit;

import io.sluice.Subscription;
import io.sluice.internal.engine.ConsumerEngine;

/** Test-only operations on subscriptions. */
public final class Subscriptions {
    private Subscriptions() {
    }

    /**
     * Stops {@code subscription} as if its process died: no drain, no commit; the group redelivers what it had not
     * finished.
     */
    public static void abandon(Subscription subscription) {
        if (!(subscription instanceof ConsumerEngine engine)) {
            throw new IllegalArgumentException("not a Sluice engine subscription: " + subscription);
        }
        engine.abandon();
    }
}
