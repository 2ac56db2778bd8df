package io.sluice.internal.publish;

import io.sluice.Receipt;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.CompletableFuture;

/**
 * The future of one publish, with a once-only settle flag: whichever of the transport's completion or the
 * publisher's close settles it first returns its room to the publisher, before completing the future, so a callback
 * that publishes again never waits for the room it holds. Thread-safe.
 */
final class PendingPublish extends CompletableFuture<Receipt> {
    private static final VarHandle SETTLED;

    static {
        try {
            SETTLED = MethodHandles.lookup().findVarHandle(PendingPublish.class, "settled", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    @SuppressWarnings("unused") // accessed through SETTLED
    private volatile int settled;

    /** True for the one caller that settles this publish. */
    boolean claimSettlement() {
        return SETTLED.compareAndSet(this, 0, 1);
    }

    boolean isSettled() {
        return settled != 0;
    }
}
