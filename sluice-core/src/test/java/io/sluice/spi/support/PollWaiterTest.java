package io.sluice.spi.support;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * The waiter's contract. Every wait here has a deadline an hour away, so a lost wake-up shows as the test's timeout,
 * never as a slow pass.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class PollWaiterTest {
    private static final long HOUR = TimeUnit.HOURS.toNanos(1);

    @Test
    void shouldNotParkWhenAWakeupCameBeforeTheWait() throws Exception {
        PollWaiter waiter = new PollWaiter();
        waiter.wakeup(); // before any poll: kept for the next one
        waiter.enter();

        assertThat(waiter.await(System.nanoTime() + HOUR, () -> false)).isTrue();
        assertThat(waiter.consumeWakeup()).isTrue();
        assertThat(waiter.consumeWakeup()).as("a wakeup is used up once").isFalse();
    }

    @Test
    void shouldNotParkWhenTheConditionAlreadyHolds() throws Exception {
        PollWaiter waiter = new PollWaiter();
        waiter.enter();

        assertThat(waiter.await(System.nanoTime() + HOUR, () -> true)).isTrue();
        assertThat(waiter.consumeWakeup()).isFalse();
    }

    @Test
    void shouldReturnFalseWithoutParkingOnceTheDeadlinePassed() throws Exception {
        PollWaiter waiter = new PollWaiter();
        waiter.enter();

        assertThat(waiter.await(System.nanoTime() - 1, () -> false)).isFalse();
    }

    @Test
    void shouldReleaseAParkedVirtualOwnerWhenAnotherThreadWakesIt() {
        PollWaiter waiter = new PollWaiter();
        CompletableFuture<Boolean> woken = new CompletableFuture<>();
        Thread owner = Thread.ofVirtual().start(() -> {
            waiter.enter();
            try {
                int parks = 0;
                while (!waiter.consumeWakeup()) { // as a poll loop does: park again until there is a reason
                    waiter.await(System.nanoTime() + HOUR, () -> false);
                    parks++;
                }
                woken.complete(parks >= 1);
            } catch (InterruptedException e) {
                woken.completeExceptionally(e);
            }
        });
        await().until(() -> owner.getState() == Thread.State.TIMED_WAITING);

        waiter.signal(); // a signal without a change: the owner may return, and parks again
        waiter.wakeup();

        assertThat(woken.join()).as("returned after parking, for the wakeup").isTrue();
    }

    @Test
    void shouldThrowInterruptedExceptionWhenTheParkedOwnerIsInterrupted() {
        PollWaiter waiter = new PollWaiter();
        CompletableFuture<Void> done = new CompletableFuture<>();
        Thread owner = Thread.ofPlatform().start(() -> {
            waiter.enter();
            try {
                while (true) {
                    waiter.await(System.nanoTime() + HOUR, () -> false);
                }
            } catch (InterruptedException e) {
                done.complete(null);
            }
        });
        await().until(() -> owner.getState() == Thread.State.TIMED_WAITING);

        owner.interrupt();

        done.join();
        await().until(() -> !owner.isAlive());
        assertThat(owner.isInterrupted()).isFalse();
    }

    /**
     * Two virtual threads hand a counter back and forth 20,000 times, each parking until the other moved it and
     * waking the other only through {@link PollWaiter#signal}. One wake-up lost between a thread's last check and its
     * park would leave both parked for an hour.
     */
    @Test
    void shouldLoseNoSignalBetweenTheOwnersCheckAndItsPark() throws Exception {
        int rounds = 20_000;
        AtomicLong turn = new AtomicLong();
        PollWaiter[] waiters = {new PollWaiter(), new PollWaiter()};
        Thread[] players = new Thread[2];
        for (int me = 0; me < 2; me++) {
            int self = me;
            players[me] = Thread.ofVirtual().start(() -> {
                PollWaiter mine = waiters[self];
                PollWaiter other = waiters[1 - self];
                mine.enter();
                try {
                    for (long t = self; t < 2L * rounds; t += 2) {
                        long expected = t;
                        while (turn.get() != expected) {
                            mine.await(System.nanoTime() + HOUR, () -> turn.get() == expected);
                        }
                        turn.incrementAndGet(); // publish the change, then signal
                        other.signal();
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
        }
        for (Thread t : players) {
            t.join();
        }

        assertThat(turn.get()).isEqualTo(2L * rounds);
    }
}
