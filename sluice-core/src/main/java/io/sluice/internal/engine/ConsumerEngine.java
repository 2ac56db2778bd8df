package io.sluice.internal.engine;

import io.sluice.DeadLetterException;
import io.sluice.DeadLetters;
import io.sluice.Handler;
import io.sluice.HandlerTimeoutException;
import io.sluice.Message;
import io.sluice.Middleware;
import io.sluice.Publisher;
import io.sluice.RetryLaterException;
import io.sluice.Subscription;
import io.sluice.SubscriptionStats;
import io.sluice.UndecodableMessageException;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.RetryPolicy;
import io.sluice.spi.Acknowledgement;
import io.sluice.spi.ConsumerSpec;
import io.sluice.spi.PartitionListener;
import io.sluice.spi.RecordSink;
import io.sluice.spi.Redelivery;
import io.sluice.spi.Transport;
import io.sluice.spi.TransportConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Predicate;
import java.util.function.UnaryOperator;

/**
 * The consumer engine of one subscription: fetches from a {@link TransportConsumer}, runs the handler with
 * key-ordered parallelism on virtual threads, retries with backoff, dead-letters, and commits only the contiguous
 * finished watermark of each partition (or acknowledges each finished message, on per-message transports).
 *
 * <p>Threads. One platform thread, the owner, holds all dispatch state (lanes, trackers, the delivery pool) and
 * makes every call on the transport consumer, so none of that state has a lock. Handler attempts run on virtual
 * threads and hand their outcome back through a lock-free inbox; the owner drains it between fetches. Public methods
 * ({@link #pause}, {@link #close}, {@link #stats}) may be called from any thread: they set flags and wake the owner.
 *
 * <p>Bounds. At most {@code maxInFlight} messages and {@code maxInFlightBytes} are fetched and unfinished; at the
 * bound the owner stops fetching (it still polls with a zero budget so the transport keeps its membership). Finished
 * offsets above a stuck one cost a bit each, up to {@code maxUncommittedPerPartition} per partition; a partition whose
 * window is full is paused on its own ({@link TransportConsumer#pausePartitions}), so one stuck message stalls only
 * its partition, and a watermark standing still longer than {@code consumer.stallWarning} is reported.
 *
 * <p>Seams. {@link OffsetCommitter} keeps what the transport confirmed committed, {@link PartitionWindows} pauses a
 * partition whose window is full and reports stalls, {@link PartitionTracker} finds each watermark; all three are
 * the owner's.
 *
 * <p>Commits. Offset transports get the watermark in the background
 * ({@link TransportConsumer#commitInBackground}) every commit interval, or whenever it moves where commits are cheap;
 * an offset counts as committed only once the transport confirmed it, so a failed commit is sent again and the
 * synchronous commit on revocation or close covers everything unconfirmed.
 *
 * <p>Outcomes. Every fetched message ends handled (committed/acked), dead-lettered (acked only after the dead-letter
 * publish is confirmed), or released unfinished on shutdown or rebalance, to be delivered again. Nothing is dropped.
 */
public final class ConsumerEngine implements Subscription, PartitionListener {
    private static final Logger log = LoggerFactory.getLogger(ConsumerEngine.class);

    private static final int RUNNING = 0;
    private static final int POLLING = 1;
    private static final int PARKED = 2;
    /** Longest the owner sleeps between housekeeping rounds, and the keep-alive poll period when full. */
    private static final long TICK_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
    private static final long DEAD_LETTER_PUBLISH_TIMEOUT_SECONDS = 60;

    private final String topic;
    private final String group;
    private final ConsumerOptions options;
    private final RetryPolicy retry;
    private final Handler handler;
    private final Publisher deadLetterPublisher;
    private final String deadLetterTopic;
    private final EngineObserver observer;
    private final java.util.function.Consumer<Subscription> onEnded;
    private final boolean perMessageAck;
    private final boolean cheapCommits;
    private final long nativeDelayThresholdNanos;
    private final int maxMessageBytes;
    private final TransportConsumer consumer;
    private final Thread owner;
    private final ThreadFactory attemptThreads = Thread.ofVirtual().name("sluice-handler").factory();
    private final CompletionInbox inbox = new CompletionInbox();
    private final DeliveryPool pool = new DeliveryPool(this);
    private final KeyLanes lanes;
    private final OffsetCommitter committer;
    private final PartitionWindows windows;
    private final RecordSink sink = this::accept;
    private final long handlerTimeoutNanos;
    private final int maxUncommitted;
    private final CountDownLatch terminated = new CountDownLatch(1);
    private final CompletableFuture<Void> endedFuture = new CompletableFuture<>();

    // Owner-only state.
    private PartitionTracker[] trackers = new PartitionTracker[16];
    private int inFlight;
    private long inFlightBytes;
    private boolean stopping;
    private long nextCommitNanos;
    private long nextLagNanos;
    private long nextWatchdogNanos;
    private long lastPollNanos;
    private long pollFailures;

    // Written by the owner, read by anyone.
    private volatile int ownerState = RUNNING;
    private volatile long received;
    private volatile long handled;
    private volatile long retried;
    private volatile long deadLettered;
    private volatile int inFlightSnapshot;
    private volatile int peakInFlight;
    private volatile boolean drainedInTime = true;
    private volatile Set<Integer> assignment = Set.of();
    private volatile Map<Integer, Long> lag = Map.of();
    private volatile boolean ended;

    // Written by any thread, read by the owner.
    private volatile boolean pauseRequested;
    private volatile boolean closeRequested;
    private volatile boolean abandonRequested;
    private volatile long closeDeadlineNanos;

    /**
     * Starts a subscription: joins the group through {@code transport} and starts the owner thread.
     *
     * @param deadLetterPublisher where dead letters are published; its confirmation gates the source's ack
     */
    public ConsumerEngine(Transport transport, String topic, String group, String memberId, Handler handler,
                          ConsumerOptions options, Publisher deadLetterPublisher, EngineObserver observer) {
        this(transport, topic, group, memberId, handler, options, deadLetterPublisher, observer,
                UnaryOperator.identity(), s -> { });
    }

    /**
     * As above, with the handler (already inside the options' middleware) wrapped by {@code outermost}, and
     * {@code onEnded} called on the owner thread once the subscription has ended for good.
     */
    public ConsumerEngine(Transport transport, String topic, String group, String memberId, Handler handler,
                          ConsumerOptions options, Publisher deadLetterPublisher, EngineObserver observer,
                          UnaryOperator<Handler> outermost, java.util.function.Consumer<Subscription> onEnded) {
        this.topic = topic;
        this.group = group;
        this.options = options;
        this.retry = options.retry();
        this.handler = outermost.apply(wrap(handler, options.middleware()));
        this.onEnded = onEnded;
        this.deadLetterPublisher = deadLetterPublisher;
        this.deadLetterTopic = options.deadLetter().topicFor(topic);
        this.observer = observer;
        this.perMessageAck = transport.capabilities().acknowledgement() == Acknowledgement.PER_MESSAGE;
        this.cheapCommits = !perMessageAck && transport.capabilities().cheapCommits();
        this.nativeDelayThresholdNanos = transport.capabilities().nativeDelay() && retry.nativeDelayThreshold() != null
                ? retry.nativeDelayThreshold().toNanos() : Long.MAX_VALUE;
        this.handlerTimeoutNanos = options.handlerTimeout().toNanos();
        this.maxMessageBytes = transport.capabilities().maxMessageBytes();
        this.maxUncommitted = options.maxUncommittedPerPartition();
        this.lanes = new KeyLanes(Math.min(options.maxInFlight(), 1 << 16));
        this.consumer = transport.consumer(new ConsumerSpec(topic, group, memberId, options.startFrom()), this);
        this.owner = Thread.ofPlatform().daemon(true).name("sluice-consumer-" + topic + "-" + memberId)
                .unstarted(this::runOwner);
        this.committer = new OffsetCommitter(consumer, topic, group, owner, this::wakeOwner,
                options.commitInterval().toNanos());
        this.windows = new PartitionWindows(consumer, topic, group, maxUncommitted, options.stallWarning().toNanos());
        owner.start();
    }

    private static Handler wrap(Handler handler, List<Middleware> middleware) {
        Handler h = handler;
        for (int i = middleware.size() - 1; i >= 0; i--) {
            h = middleware.get(i).apply(h);
        }
        return h;
    }

    // ---------------------------------------------------------------- owner loop

    private void runOwner() {
        long now = System.nanoTime();
        nextCommitNanos = now + options.commitInterval().toNanos();
        nextWatchdogNanos = now + watchdogPeriod();
        lastPollNanos = now;
        try {
            while (!closeRequested && !abandonRequested) {
                drainInbox();
                committer.drainOutcomes(trackers);
                if (cheapCommits && committer.pending() == 0 && committer.mayCommitEagerly()) {
                    committer.commitInBackground(trackers); // one at a time: commits coalesce while one is pending
                }
                windows.apply(trackers);
                now = System.nanoTime();
                housekeeping(now);
                int room = room();
                long bytesRoom = options.maxInFlightBytes() - inFlightBytes;
                if (room > 0 && bytesRoom > 0) {
                    ownerState = POLLING;
                    long timeout = inbox.isEmpty() && !committer.hasOutcomes() ? untilHousekeeping(now) : 0;
                    poll(room, bytesRoom, inFlight == 0, timeout);
                    ownerState = RUNNING;
                    lastPollNanos = now;
                } else {
                    if (now - lastPollNanos >= TICK_NANOS) {
                        poll(0, 0, false, 0); // keeps the membership alive and runs rebalance callbacks
                        lastPollNanos = now;
                    }
                    parkUntil(now + untilHousekeeping(now));
                }
            }
            stopping = true;
            if (abandonRequested) {
                abandonAll();
            } else {
                drainedInTime = drainAndCommit(d -> true, closeDeadlineNanos);
            }
        } catch (Throwable t) {
            log.error("Consumer engine of topic {} group {} failed; unfinished messages stay uncommitted", topic,
                    group, t);
            stopping = true;
            abandonAll();
        } finally {
            // Nested so that an Error from the transport or a listener still ends the subscription for its waiters.
            try {
                consumer.close();
            } catch (RuntimeException e) {
                log.warn("Closing the transport consumer of topic {} group {} failed", topic, group, e);
            } finally {
                // An ended subscription holds nothing, whether or not the transport said so on close.
                assignment = Set.of();
                lag = Map.of();
                windows.clear();
                inFlightSnapshot = inFlight;
                ended = true;
                try {
                    onEnded.accept(this); // before close() returns, so listeners are done when it does
                } catch (RuntimeException e) {
                    log.warn("A listener of the end of topic {} group {} failed", topic, group, e);
                } finally {
                    // The future first: isEnded() reads it, so whenEnded's dependents see the subscription ended,
                    // and awaitEnd/close return only after them.
                    endedFuture.complete(null);
                    terminated.countDown();
                }
            }
        }
    }

    private void poll(int room, long bytesRoom, boolean oversizedFirst, long timeoutNanos)
            throws InterruptedException {
        try {
            consumer.poll(room, bytesRoom, oversizedFirst, timeoutNanos, sink);
            pollFailures = 0;
        } catch (InterruptedException e) {
            throw e;
        } catch (RuntimeException e) {
            // The transport reconnects by itself; keep the subscription alive and back off.
            long backoff = Math.min(TimeUnit.SECONDS.toNanos(5), TimeUnit.MILLISECONDS.toNanos(50) << Math.min(pollFailures++, 6));
            log.warn("Fetching from topic {} group {} failed; retrying in {} ms", topic, group, backoff / 1_000_000, e);
            parkUntil(System.nanoTime() + backoff);
        }
    }

    private int room() {
        if (pauseRequested || stopping || windows.blockAllFetching()) {
            return 0;
        }
        return options.maxInFlight() - inFlight;
    }

    private long watchdogPeriod() {
        return Math.max(TimeUnit.MILLISECONDS.toNanos(1), Math.min(TICK_NANOS, handlerTimeoutNanos / 4));
    }

    private long untilHousekeeping(long now) {
        long next = Math.min(nextWatchdogNanos, perMessageAck ? Long.MAX_VALUE : nextCommitNanos);
        return Math.max(0, Math.min(TICK_NANOS, next - now));
    }

    private void housekeeping(long now) {
        if (now >= nextWatchdogNanos) {
            timeOutHungAttempts(now);
            nextWatchdogNanos = now + watchdogPeriod();
        }
        if (!perMessageAck && now >= nextCommitNanos) {
            committer.commitInBackground(trackers);
            nextCommitNanos = now + options.commitInterval().toNanos();
        }
        if (now >= nextLagNanos) {
            refreshLag();
            windows.checkStalls(trackers, now);
            nextLagNanos = now + TICK_NANOS;
        }
        inFlightSnapshot = inFlight;
    }

    /** Copies the transport's lag for readers on other threads: the transport consumer is this thread's alone. */
    private void refreshLag() {
        try {
            Map<Integer, Long> now = consumer.lag();
            lag = now == null || now.isEmpty() ? Map.of() : Map.copyOf(now);
        } catch (RuntimeException e) {
            log.debug("Lag of topic {} group {} unavailable", topic, group, e);
        }
    }

    /**
     * Parks the owner until a completion arrives, {@link #close}/{@link #resume} unparks it, or {@code deadline}
     * passes. Restores the previous state: inside a rebalance callback the owner is still within a poll.
     */
    private void parkUntil(long deadlineNanos) {
        int previous = ownerState;
        ownerState = PARKED;
        if (inbox.isEmpty() && !committer.hasOutcomes()) {
            LockSupport.parkNanos(this, Math.max(0, deadlineNanos - System.nanoTime()));
        }
        ownerState = previous;
    }

    private void wakeOwner() {
        int state = ownerState;
        if (state == PARKED) {
            LockSupport.unpark(owner);
        } else if (state == POLLING) {
            consumer.wakeup();
        }
    }

    // ---------------------------------------------------------------- dispatch

    /** Called by the transport, on the owner thread, for each fetched record. */
    private void accept(Message message, int partition, long offset, int sizeBytes, int deliveryAttempt,
                        Object ackHandle) {
        PartitionTracker tracker = tracker(partition);
        Delivery d = pool.take();
        d.message = message;
        d.key = message.key();
        d.partition = partition;
        d.offset = offset;
        d.size = sizeBytes;
        d.ackHandle = ackHandle;
        d.attempts = Math.max(0, deliveryAttempt - 1);
        d.fetchedNanos = System.nanoTime();
        d.seq = tracker.track(offset);
        windows.tracked(tracker);
        inFlight++;
        inFlightBytes += sizeBytes;
        received++;
        if (inFlight > peakInFlight) {
            peakInFlight = inFlight;
        }
        if (d.key == null || lanes.enqueue(d)) {
            startAttempt(d, 0);
        }
    }

    private void startAttempt(Delivery d, long delayNanos) {
        if (d.stage == Delivery.STAGE_HANDLE) {
            d.attempts++;
        }
        d.delayNanos = delayNanos;
        d.arm();
        attemptThreads.newThread(d).start();
    }

    /** Gives the message to the transport's delayed redelivery; its confirmation comes back through the inbox. */
    private void handOff(Delivery d, long delayNanos) {
        d.stage = Delivery.STAGE_HAND_OFF;
        d.delayNanos = delayNanos;
        long token = d.arm();
        CompletableFuture<Void> handedOff;
        try {
            handedOff = consumer.redeliverLater(new Redelivery(d.message, d.partition, d.offset, d.ackHandle,
                    d.attempts, delayNanos));
        } catch (RuntimeException e) {
            handedOff = CompletableFuture.failedFuture(e);
        }
        handedOff.whenComplete((ok, e) -> {
            if (d.claim(token)) {
                d.error = e;
                completed(d);
            }
        });
    }

    /** Runs the handler chain; called on the attempt's virtual thread. */
    void invokeHandler(Message message) throws Exception {
        handler.handle(message);
    }

    /** Publishes a dead letter and waits for its confirmation; called on the attempt's virtual thread. */
    void publishDeadLetter(Message letter) throws Exception {
        try {
            deadLetterPublisher.publish(deadLetterTopic, letter).get(DEAD_LETTER_PUBLISH_TIMEOUT_SECONDS,
                    TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof Exception cause ? cause : e;
        } catch (TimeoutException e) {
            throw new TimeoutException("dead-letter publish to " + deadLetterTopic + " not confirmed within "
                    + DEAD_LETTER_PUBLISH_TIMEOUT_SECONDS + "s");
        }
    }

    /** Called by an attempt's thread when it has claimed its outcome. */
    void completed(Delivery d) {
        if (inbox.push(d)) {
            wakeOwner();
        }
    }

    private void drainInbox() {
        Delivery d = inbox.drain();
        while (d != null) {
            Delivery next = d.nextCompleted;
            d.nextCompleted = null;
            try {
                onOutcome(d);
            } catch (RuntimeException | Error e) {
                outcomeFailed(d, e);
            }
            d = next;
        }
    }

    /**
     * Handling an outcome threw (a bug, or a transport call failing): the message is released unfinished, so it is
     * delivered again, and the engine carries on rather than wedge with a delivery no one owns.
     */
    private void outcomeFailed(Delivery d, Throwable e) {
        log.error("Handling the outcome of message {} (topic {} partition {} offset {}) failed; the message stays "
                + "uncommitted and will be delivered again", d.message == null ? null : d.message.id(), topic,
                d.partition, d.offset, e);
        if (d.active && !d.isRunning()) {
            try {
                release(d, true);
            } catch (RuntimeException again) {
                log.error("Releasing message {} failed too", d.offset, again);
            }
            pool.discard(d);
        }
    }

    private void onOutcome(Delivery d) {
        Throwable error = d.error;
        boolean mayContinue = !stopping && !tracker(d.partition).revoking;
        if (d.stage == Delivery.STAGE_HAND_OFF) {
            if (error == null) {
                finish(d, OUTCOME_HANDED_OFF);
            } else if (mayContinue) {
                log.warn("Handing message {} (topic {} partition {} offset {}) to the transport for delayed "
                        + "redelivery failed; retrying it in memory", d.message.id(), topic, d.partition, d.offset, error);
                d.stage = Delivery.STAGE_HANDLE;
                startAttempt(d, d.delayNanos);
            } else {
                release(d, true);
                pool.recycle(d);
            }
            return;
        }
        if (d.stage == Delivery.STAGE_DEAD_LETTER) {
            if (error == null) {
                deadLettered++;
                finish(d, OUTCOME_DEAD_LETTERED);
            } else if (mayContinue) {
                d.deadLetterFailures++;
                long delay = retry.delayNanos(d.deadLetterFailures);
                log.warn("Dead-letter publish of message {} (topic {} partition {} offset {}) to {} failed; "
                                + "the message stays unacknowledged and the publish is retried in {} ms",
                        d.message.id(), topic, d.partition, d.offset, deadLetterTopic, delay / 1_000_000, error);
                startAttempt(d, delay);
            } else {
                release(d, true);
                pool.recycle(d);
            }
            return;
        }
        if (d.timedOut) {
            error = new HandlerTimeoutException(options.handlerTimeout());
        }
        if (error == null) {
            handled++;
            finish(d, OUTCOME_HANDLED);
            return;
        }
        if (!mayContinue) {
            release(d, true);
            pool.recycle(d);
            return;
        }
        Throwable cause = unwrap(error);
        if (cause instanceof RetryLaterException later && !later.countsAsAttempt()) {
            d.attempts--; // the handler was not called (an open breaker, a rate limit): the attempt is given back
        } else if (d.firstFailureMillis == 0) {
            d.firstFailureMillis = System.currentTimeMillis();
        }
        if (cause instanceof UndecodableMessageException) {
            // Decoding failed before the handler was called, on this delivery and (decoding being deterministic)
            // on any earlier one a redelivery's attempt count includes: dead letters count handler attempts only.
            d.attempts = 0;
        }
        String reason = deadLetterReason(cause, d.attempts);
        if (reason == null) {
            long delay = cause instanceof RetryLaterException later ? saturatedNanos(later.delay())
                    : retry.delayNanos(d.attempts);
            retried++;
            notifyRetried(delay);
            if (delay >= nativeDelayThresholdNanos) {
                handOff(d, delay);
            } else {
                startAttempt(d, delay);
            }
        } else {
            d.stage = Delivery.STAGE_DEAD_LETTER;
            d.deadLetterReason = reason;
            d.deadLetter = deadLetterFor(d, reason, cause);
            startAttempt(d, 0);
        }
    }

    private void notifyFinished(long latencyNanos, boolean wasDeadLettered) {
        try {
            observer.finished(latencyNanos, wasDeadLettered);
        } catch (RuntimeException e) {
            log.warn("Engine observer failed; ignoring it", e);
        }
    }

    private void notifyRetried(long delayNanos) {
        try {
            observer.retried(delayNanos);
        } catch (RuntimeException e) {
            log.warn("Engine observer failed; ignoring it", e);
        }
    }

    /**
     * The dead letter of {@code d}. The cause headers make it larger than the original; if that crosses the
     * transport's size limit the error message is cut short, and if it still does not fit the message stays owned
     * (its key blocked) and the engine says so, because dropping it is not an option.
     */
    private Message deadLetterFor(Delivery d, String reason, Throwable cause) {
        Message letter = DeadLetterRecords.build(d.message, reason, cause, d.attempts, topic, d.partition, d.offset,
                group, d.firstFailureMillis, options.deadLetter().maxErrorMessageLength());
        if (maxMessageBytes > 0 && letter.estimatedSize() > maxMessageBytes) {
            letter = DeadLetterRecords.build(d.message, reason, cause, d.attempts, topic, d.partition, d.offset,
                    group, d.firstFailureMillis, 16);
            if (letter.estimatedSize() > maxMessageBytes) {
                log.error("The dead letter of message {} (topic {} partition {} offset {}) is {} bytes, over the "
                                + "transport's limit of {}; it cannot be published, so the message stays unacknowledged "
                                + "and blocks its key", d.message.id(), topic, d.partition, d.offset,
                        letter.estimatedSize(), maxMessageBytes);
            }
        }
        return letter;
    }

    /** Null to retry, else why the message goes to the dead-letter topic now. */
    private String deadLetterReason(Throwable cause, int attempts) {
        if (cause instanceof UndecodableMessageException) {
            return DeadLetters.REASON_UNDECODABLE;
        }
        if (cause instanceof DeadLetterException) {
            return DeadLetters.REASON_REJECTED;
        }
        if (retry.isNonRetryable(cause)) {
            return DeadLetters.REASON_NON_RETRYABLE;
        }
        if (retry.exhausted(attempts)) {
            return DeadLetters.REASON_RETRIES_EXHAUSTED;
        }
        return null;
    }

    private static long saturatedNanos(Duration d) {
        return d.compareTo(Duration.ofDays(365)) > 0 ? TimeUnit.DAYS.toNanos(365) : d.toNanos();
    }

    private static Throwable unwrap(Throwable error) {
        Throwable e = error;
        while ((e instanceof ExecutionException || e instanceof java.util.concurrent.CompletionException)
                && e.getCause() != null) {
            e = e.getCause();
        }
        return e;
    }

    private static final int OUTCOME_HANDLED = 0;
    private static final int OUTCOME_DEAD_LETTERED = 1;
    private static final int OUTCOME_HANDED_OFF = 2;

    /** The outcome is final for this delivery: commit or ack it, and start the next message of its key. */
    private void finish(Delivery d, int outcome) {
        PartitionTracker tracker = tracker(d.partition);
        if (perMessageAck && outcome != OUTCOME_HANDED_OFF) {
            try {
                if (outcome == OUTCOME_HANDLED) {
                    consumer.ack(d.ackHandle);
                } else {
                    consumer.deadLettered(d.ackHandle);
                }
            } catch (RuntimeException e) {
                // The broker will deliver it again: at-least-once holds, the handler may see it twice.
                log.warn("Acknowledging message {} (topic {} partition {} offset {}) failed", d.message.id(), topic,
                        d.partition, d.offset, e);
            }
        }
        tracker.complete(d.seq);
        windows.completed(tracker);
        if (outcome != OUTCOME_HANDED_OFF) {
            notifyFinished(System.nanoTime() - d.fetchedNanos, outcome == OUTCOME_DEAD_LETTERED);
        }
        leave(d, true);
        pool.recycle(d);
    }

    /** Gives an unfinished delivery back: not committed or acked, so the transport delivers it again. */
    private void release(Delivery d, boolean isLaneHead) {
        tracker(d.partition).abandon();
        if (perMessageAck) {
            try {
                consumer.release(d.ackHandle);
            } catch (RuntimeException e) {
                log.warn("Releasing message {} (topic {} partition {} offset {}) failed; the broker redelivers it "
                        + "when its ack deadline passes", d.message.id(), topic, d.partition, d.offset, e);
            }
        }
        leave(d, isLaneHead);
    }

    /** Takes {@code d} out of the in-flight count and, if it heads a lane, moves the lane on. */
    private void leave(Delivery d, boolean isLaneHead) {
        inFlight--;
        inFlightBytes -= d.size;
        if (isLaneHead && d.key != null) {
            Delivery next = lanes.advance(d);
            if (next != null) {
                if (!stopping && !tracker(next.partition).revoking) {
                    startAttempt(next, 0);
                } else {
                    releaseLane(next);
                }
            }
        }
    }

    private void releaseLane(Delivery head) {
        Delivery d = head;
        while (d != null) {
            Delivery next = d.nextInLane;
            d.nextInLane = null;
            d.laneTail = null;
            release(d, false);
            pool.recycle(d);
            d = next;
        }
    }

    // ---------------------------------------------------------------- watchdog, drain, commit

    /**
     * Interrupts attempts running longer than the handler timeout; when such an attempt returns, it counts as failed
     * with {@link HandlerTimeoutException}. The engine waits for the attempt to actually end before it retries the
     * message or starts the next one of its key, so an attempt that ignores interruption cannot overlap its key's
     * next message; it keeps its key blocked (and its in-flight slot taken), and the engine says so in the log.
     */
    private void timeOutHungAttempts(long now) {
        List<Delivery> hung = pool.activeWhere(d -> d.stage == Delivery.STAGE_HANDLE && d.isRunning()
                && d.attemptStartNanos != 0 && now - d.attemptStartNanos > handlerTimeoutNanos);
        for (Delivery d : hung) {
            Thread runner = d.runner;
            if (!d.timedOut) {
                d.timedOut = true;
                d.lastTimeoutWarningNanos = now;
                if (runner != null) {
                    runner.interrupt();
                }
            } else if (now - d.lastTimeoutWarningNanos > Math.max(handlerTimeoutNanos, TimeUnit.SECONDS.toNanos(5))) {
                d.lastTimeoutWarningNanos = now;
                log.error("Handler for message {} (topic {} partition {} offset {} key {}) has run {} ms and ignores "
                                + "interruption; its key stays blocked until it returns", d.message.id(), topic,
                        d.partition, d.offset, d.key, (now - d.attemptStartNanos) / 1_000_000);
            }
        }
    }

    /**
     * Stops work in {@code scope}: releases messages waiting behind their key and attempts waiting for a retry,
     * lets running attempts finish until {@code deadlineNanos}, cancels the rest, then commits synchronously.
     *
     * @return true if every running attempt finished in time
     */
    private boolean drainAndCommit(Predicate<Delivery> scope, long deadlineNanos) {
        lanes.removeWaiting(scope, d -> {
            release(d, false);
            pool.recycle(d);
        });
        // Attempts still sleeping before a retry have not started: release them now rather than wait.
        cancel(pool.activeWhere(d -> scope.test(d) && d.isRunning() && d.stage != Delivery.STAGE_HAND_OFF
                && d.delayNanos > 0 && d.attemptStartNanos == 0));
        drainInbox();
        while (!pool.activeWhere(scope).isEmpty() && System.nanoTime() - deadlineNanos < 0) {
            drainInbox();
            if (!pool.activeWhere(scope).isEmpty()) {
                parkUntil(Math.min(deadlineNanos, System.nanoTime() + TICK_NANOS));
            }
        }
        drainInbox();
        int late = cancelAll(scope);
        if (late > 0) {
            log.warn("{} handler attempts of topic {} group {} did not finish by the deadline; they were "
                    + "interrupted and will be delivered again", late, topic, group);
        }
        if (!perMessageAck) {
            committer.commitNow(trackers, scope instanceof PartitionScope p ? p.partitions() : null);
        }
        return late == 0;
    }

    /**
     * Cancels every active delivery in {@code scope} and processes outcomes that raced in, until none is left.
     * Ends because nothing in scope may start again (stopping, or its partitions are revoking).
     *
     * @return how many running attempts were cancelled
     */
    private int cancelAll(Predicate<Delivery> scope) {
        int cancelled = 0;
        List<Delivery> active = pool.activeWhere(scope);
        while (!active.isEmpty()) {
            cancelled += cancel(active);
            drainInbox();
            active = pool.activeWhere(scope);
        }
        return cancelled;
    }

    /**
     * Cancels running attempts and releases their messages; the deliveries are discarded, not reused. A delivery
     * whose attempt already claimed its outcome is left to the inbox.
     *
     * @return how many were cancelled
     */
    private int cancel(List<Delivery> deliveries) {
        int cancelled = 0;
        for (Delivery d : deliveries) {
            if (d.active && d.claimAndInterrupt()) {
                release(d, true);
                pool.discard(d);
                cancelled++;
            }
        }
        return cancelled;
    }

    private void abandonAll() {
        lanes.removeWaiting(d -> true, d -> {
            release(d, false);
            pool.recycle(d);
        });
        cancelAll(d -> true);
    }

    /** A scope of whole partitions, so commits can be limited to them. */
    private record PartitionScope(Set<Integer> partitions) implements Predicate<Delivery> {
        @Override
        public boolean test(Delivery d) {
            return partitions.contains(d.partition);
        }
    }

    private PartitionTracker tracker(int partition) {
        if (partition >= trackers.length) {
            trackers = Arrays.copyOf(trackers, Math.max(partition + 1, trackers.length * 2));
        }
        PartitionTracker t = trackers[partition];
        if (t == null) {
            t = new PartitionTracker(partition, options.maxInFlight());
            trackers[partition] = t;
        }
        return t;
    }

    // ---------------------------------------------------------------- rebalance callbacks (owner thread)

    @Override
    public void assigned(Collection<Integer> partitions) {
        for (int p : partitions) {
            if (p < trackers.length && trackers[p] != null && trackers[p].inFlight == 0) {
                windows.forgotten(trackers[p]);
                trackers[p] = null; // a fresh assignment starts from the committed position
            }
            PartitionTracker t = tracker(p);
            t.revoking = false;
            windows.assigned(t);
        }
        Set<Integer> now = new java.util.TreeSet<>(assignment);
        now.addAll(partitions);
        assignment = java.util.Collections.unmodifiableSet(now);
        log.debug("Topic {} group {}: assigned partitions {}", topic, group, partitions);
    }

    @Override
    public void revoked(Collection<Integer> partitions) {
        if (abandonRequested || partitions.isEmpty()) {
            return;
        }
        Set<Integer> set = new HashSet<>(partitions);
        for (int p : set) {
            tracker(p).revoking = true;
        }
        long budget = options.shutdownTimeout().toNanos();
        Duration cap = consumer.maxRevokeTime(); // the broker's patience, if shorter: keep the membership
        if (cap != null) {
            budget = Math.min(budget, cap.toNanos());
        }
        drainAndCommit(new PartitionScope(set), System.nanoTime() + budget);
        forget(set);
        log.debug("Topic {} group {}: revoked partitions {}", topic, group, partitions);
    }

    @Override
    public void lost(Collection<Integer> partitions) {
        Set<Integer> set = new HashSet<>(partitions);
        for (int p : set) {
            tracker(p).revoking = true;
        }
        PartitionScope scope = new PartitionScope(set);
        lanes.removeWaiting(scope, d -> {
            release(d, false);
            pool.recycle(d);
        });
        cancelAll(scope);
        forget(set);
        log.warn("Topic {} group {}: lost partitions {} without commit; their unfinished messages will be "
                + "delivered again", topic, group, partitions);
    }

    private void forget(Set<Integer> partitions) {
        Set<Integer> now = new java.util.TreeSet<>(assignment);
        now.removeAll(partitions);
        assignment = java.util.Collections.unmodifiableSet(now);
        for (int p : partitions) {
            PartitionTracker t = trackers[p];
            if (t != null) {
                windows.forgotten(t);
            }
            trackers[p] = null;
        }
        windows.publish(trackers);
    }

    // ---------------------------------------------------------------- Subscription

    @Override
    public String topic() {
        return topic;
    }

    @Override
    public String group() {
        return group;
    }

    @Override
    public void pause() {
        pauseRequested = true;
    }

    @Override
    public void resume() {
        pauseRequested = false;
        LockSupport.unpark(owner);
    }

    @Override
    public boolean isPaused() {
        return pauseRequested;
    }

    @Override
    public Set<Integer> assignedPartitions() {
        return assignment;
    }

    /** True once the owner thread has finished for good (set before the end listener is called). */
    public boolean hasEnded() {
        return ended;
    }

    @Override
    public boolean isEnded() {
        return endedFuture.isDone();
    }

    @Override
    public boolean awaitEnd(Duration timeout) throws InterruptedException {
        return terminated.await(timeout.toNanos(), TimeUnit.NANOSECONDS);
    }

    @Override
    public java.util.concurrent.CompletionStage<Void> whenEnded() {
        return endedFuture.minimalCompletionStage();
    }

    @Override
    public Map<Integer, Long> lag() {
        return lag;
    }

    @Override
    public SubscriptionStats stats() {
        return new SubscriptionStats(received, handled, retried, deadLettered, inFlightSnapshot, peakInFlight,
                windows.stalled());
    }

    @Override
    public boolean close(Duration deadline) {
        if (Thread.currentThread() == owner) {
            throw new IllegalStateException("close() called on the subscription's own consumer thread");
        }
        if (!closeRequested && !abandonRequested) {
            closeDeadlineNanos = System.nanoTime() + deadline.toNanos();
            closeRequested = true;
            LockSupport.unpark(owner);
            consumer.wakeup();
        }
        boolean stopped = awaitTermination(deadline.plusSeconds(30));
        return stopped && drainedInTime;
    }

    @Override
    public void close() {
        close(options.shutdownTimeout());
    }

    /**
     * Stops at once as if the process died: running attempts are interrupted, nothing is committed, and the
     * membership is dropped so the group redelivers everything unfinished. For tests of at-least-once delivery.
     */
    public void abandon() {
        abandonRequested = true;
        LockSupport.unpark(owner);
        consumer.wakeup();
        awaitTermination(Duration.ofSeconds(30));
    }

    private boolean awaitTermination(Duration timeout) {
        try {
            if (terminated.await(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                return true;
            }
            log.warn("Consumer engine of topic {} group {} did not stop within {}", topic, group, timeout);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return false;
    }

    @Override
    public String toString() {
        return "Subscription{topic=" + topic + ", group=" + group + ", " + stats() + '}';
    }
}
