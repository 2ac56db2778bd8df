package io.sluice.resilience;

import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.circuitbreaker.event.CircuitBreakerOnStateTransitionEvent;
import io.github.resilience4j.core.EventConsumer;
import io.sluice.DeadLetterException;
import io.sluice.Middleware;
import io.sluice.RetryLaterException;
import io.sluice.Subscription;
import io.sluice.UndecodableMessageException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Guards the handlers that call one downstream dependency with a Resilience4j {@link CircuitBreaker}, so that an
 * outage pauses consumption instead of spending every message's attempts and filling the dead-letter topic.
 *
 * <ul>
 *   <li>{@link #middleware()} records each handler call's outcome with the breaker. When the breaker refuses a call
 *       the handler is not run and the message is retried after {@code deferral} without using up an attempt
 *       ({@link RetryLaterException#notAttempted}). A call that ran counts as an attempt whatever happened,
 *       half-open probes included: only the probes of an outage spend attempts, and a message that fails every
 *       probe still ends on the dead-letter topic. A message's own fault ({@link DeadLetterException},
 *       {@link UndecodableMessageException}) is not the dependency's and does not count against it. A FORCED_OPEN
 *       breaker holds the messages it refuses for as long as it is forced (they stay owned, unacknowledged).</li>
 *   <li>{@link #pauses(Subscription)}: the subscription stops fetching while the breaker is OPEN (or FORCED_OPEN),
 *       and resumes when it turns HALF_OPEN, so the half-open probes are real messages, and stays running when it
 *       closes.</li>
 * </ul>
 *
 * <p>Pausing is not counted: a guard resumes its subscriptions when the breaker leaves the open state, even one
 * paused by someone else meanwhile.
 *
 * <p>Thread-safe. Threads: handlers' threads call the breaker; state changes run the pause and resume (quick
 * flag changes) on the thread that caused them; one daemon platform thread ({@code sluice-breaker-<name>}) checks
 * every {@code probeInterval} whether an OPEN breaker's wait is over, because a paused subscription sends no calls
 * that would notice it. Close the guard to stop that thread.
 */
public final class BreakerGuard implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(BreakerGuard.class);

    private final CircuitBreaker breaker;
    private final Duration deferral;
    private final List<Subscription> paused = new CopyOnWriteArrayList<>();
    private final ScheduledExecutorService prober;
    private final EventConsumer<CircuitBreakerOnStateTransitionEvent> onTransition = this::transitioned;

    private BreakerGuard(CircuitBreaker breaker, Duration deferral, Duration probeInterval) {
        this.breaker = breaker;
        this.deferral = deferral;
        this.prober = Executors.newSingleThreadScheduledExecutor(
                Thread.ofPlatform().daemon(true).name("sluice-breaker-" + breaker.getName()).factory());
        breaker.getEventPublisher().onStateTransition(onTransition);
        long period = probeInterval.toNanos();
        prober.scheduleAtFixedRate(this::probe, period, period, TimeUnit.NANOSECONDS);
    }

    /** A guard over {@code breaker}: refused messages come back after 500 ms; the open state is checked each 100 ms. */
    public static BreakerGuard of(CircuitBreaker breaker) {
        return of(breaker, Duration.ofMillis(500), Duration.ofMillis(100));
    }

    /**
     * @param deferral      how long a message the breaker refused waits before it is tried again
     * @param probeInterval how often an OPEN breaker is asked whether its wait is over
     */
    public static BreakerGuard of(CircuitBreaker breaker, Duration deferral, Duration probeInterval) {
        if (deferral.isNegative() || probeInterval.isNegative() || probeInterval.isZero()) {
            throw new IllegalArgumentException("deferral must be >= 0 and probeInterval > 0, got " + deferral
                    + " and " + probeInterval);
        }
        return new BreakerGuard(breaker, deferral, probeInterval);
    }

    /** Middleware that runs the handler only when the breaker permits, and tells the breaker how it went. */
    public Middleware middleware() {
        return next -> message -> {
            if (!breaker.tryAcquirePermission()) {
                throw RetryLaterException.notAttempted(deferral, "circuit breaker '" + breaker.getName()
                        + "' is " + breaker.getState() + ": handler not called, message " + message.id()
                        + " deferred " + deferral.toMillis() + " ms");
            }
            long start = breaker.getCurrentTimestamp();
            try {
                next.handle(message);
            } catch (DeadLetterException | UndecodableMessageException e) {
                breaker.releasePermission(); // the message is at fault, not the dependency
                throw e;
            } catch (Exception | Error e) {
                // The handler ran, so the attempt counts as any other: a poison message that keeps failing as the
                // half-open probe still reaches the dead-letter topic instead of holding the breaker open for ever.
                breaker.onError(breaker.getCurrentTimestamp() - start, breaker.getTimestampUnit(), e);
                throw e;
            }
            breaker.onSuccess(breaker.getCurrentTimestamp() - start, breaker.getTimestampUnit());
        };
    }

    /** Pauses {@code subscription} while the breaker is open; returns this guard for chaining. */
    public BreakerGuard pauses(Subscription subscription) {
        paused.add(subscription);
        if (isOpen(breaker.getState())) {
            subscription.pause();
            if (!isOpen(breaker.getState())) {
                subscription.resume(); // it turned half-open meanwhile, and its transition saw no pause to undo
            }
        }
        return this;
    }

    private void transitioned(CircuitBreakerOnStateTransitionEvent event) {
        CircuitBreaker.State to = event.getStateTransition().getToState();
        log.info("Circuit breaker '{}': {} -> {}; {} {} subscription(s)", breaker.getName(),
                event.getStateTransition().getFromState(), to, isOpen(to) ? "pausing" : "resuming", paused.size());
        for (Subscription s : paused) {
            if (isOpen(to)) {
                s.pause();
            } else {
                s.resume();
            }
        }
    }

    /** An OPEN breaker turns HALF_OPEN only when asked after its wait: ask, and give back the permit if granted. */
    private void probe() {
        try {
            if (breaker.getState() == CircuitBreaker.State.OPEN && breaker.tryAcquirePermission()) {
                breaker.releasePermission();
            }
        } catch (RuntimeException e) {
            log.warn("Probing circuit breaker '{}' failed", breaker.getName(), e);
        }
    }

    private static boolean isOpen(CircuitBreaker.State state) {
        return state == CircuitBreaker.State.OPEN || state == CircuitBreaker.State.FORCED_OPEN;
    }

    /** Stops the prober and forgets the subscriptions (they stay as they are: resume them if paused). */
    @Override
    public void close() {
        prober.shutdownNow();
        paused.clear();
    }
}
