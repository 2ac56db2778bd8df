package io.sluice.cli;

import io.sluice.DeadLetters;
import io.sluice.Message;
import io.sluice.Receipt;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.locks.LockSupport;

/**
 * The demo's orders, its handler (a flaky downstream call), and the checker of the outcome. Order {@code i} belongs to
 * customer {@code i % keys} and is that customer's order number {@code i / keys}, so the ordering key's sequence is
 * known from the order number alone.
 *
 * <p>Thread-safe: the handler runs on many virtual threads at once.
 */
final class DemoWorkload {
    static final int MAX_ATTEMPTS = 4;
    private static final int PENDING = 0;
    private static final int HANDLED = 1;
    private static final int GAVE_UP = 2;
    private static final String ORDER = "demo-order";
    private static final String POISON = "demo-poison";
    private static final String RUN = "demo-run";

    private final int messages;
    private final int keys;
    private final int transientPercent;
    private final boolean[] poison;
    private final int poisonCount;
    private final AtomicIntegerArray attempts;
    private final AtomicIntegerArray state;
    private final AtomicIntegerArray deadLettered;
    private final ConcurrentHashMap<String, Boolean> busyKeys = new ConcurrentHashMap<>();
    private final List<String> violations = java.util.Collections.synchronizedList(new ArrayList<>());
    private final AtomicInteger published = new AtomicInteger();
    private final AtomicInteger handledDistinct = new AtomicInteger();
    private final AtomicInteger deadLettersSeen = new AtomicInteger();
    private final AtomicInteger fromEarlierRuns = new AtomicInteger();
    /** Tags this run's orders: on a durable transport, orders an interrupted earlier run left unfinished come too. */
    private final String runId = io.sluice.MessageIds.newId();

    DemoWorkload(int messages, int keys, int transientPercent, int poisonCount) {
        this.messages = messages;
        this.keys = keys;
        this.transientPercent = transientPercent;
        this.poison = new boolean[messages];
        int stride = Math.max(1, messages / Math.max(1, poisonCount));
        int marked = 0;
        for (int i = stride / 2; i < messages && marked < poisonCount; i += stride) {
            poison[i] = true;
            marked++;
        }
        this.poisonCount = marked;
        this.attempts = new AtomicIntegerArray(messages);
        this.state = new AtomicIntegerArray(messages);
        this.deadLettered = new AtomicIntegerArray(messages);
    }

    Message order(int i) {
        int customer = i % keys;
        String json = "{\"order\":" + i + ",\"customer\":" + customer + ",\"amount\":" + (10 + i % 90) + "}";
        Message.Builder b = Message.builder().key("customer-" + customer).payload(json)
                .header(Message.CONTENT_TYPE, "application/json").header(ORDER, Integer.toString(i))
                .header(RUN, runId);
        if (poison[i]) {
            b.header(POISON, "true");
        }
        return b.build();
    }

    void published(Receipt receipt) {
        published.incrementAndGet();
    }

    /** The handler: 5–35 ms of "I/O", transient failures on first attempts, permanent failures for poison. */
    void handle(Message m) throws Exception {
        if (!runId.equals(m.header(RUN))) {
            fromEarlierRuns.incrementAndGet(); // left unfinished by an earlier run: handled now, not checked
            return;
        }
        int i = Integer.parseInt(m.header(ORDER));
        int attempt = attempts.incrementAndGet(i);
        if (busyKeys.putIfAbsent(m.key(), Boolean.TRUE) != null) {
            violation("two orders of " + m.key() + " ran at once (order " + i + ")");
        }
        try {
            if (i >= keys && state.get(i - keys) == PENDING) {
                violation("order " + i + " of " + m.key() + " started before its previous order " + (i - keys)
                        + " was finished");
            }
            LockSupport.parkNanos(ThreadLocalRandom.current().nextLong(5_000_000, 35_000_000));
            if (poison[i]) {
                if (attempt >= MAX_ATTEMPTS) {
                    state.set(i, GAVE_UP); // the engine dead-letters it now, before the customer's next order
                }
                throw new IllegalStateException("payment declined for order " + i + ": card blocked");
            }
            if (attempt <= transientFailures(i)) {
                throw new TimeoutException("inventory service timed out for order " + i);
            }
            if (state.getAndSet(i, HANDLED) == PENDING) {
                handledDistinct.incrementAndGet();
            }
        } finally {
            busyKeys.remove(m.key());
        }
    }

    /** How many first attempts of order {@code i} fail: 0 for most, 1 or 2 for the flaky share. */
    private int transientFailures(int i) {
        int h = Math.floorMod(i * 0x9E3779B1, 1000);
        if (h >= transientPercent * 10) {
            return 0;
        }
        return h % 2 == 0 ? 1 : 2;
    }

    /** Reads a dead letter back and checks it is one of the poison orders, with its cause and original bytes. */
    void deadLetter(Message letter) {
        if (!runId.equals(letter.header(RUN))) {
            return;
        }
        String order = letter.header(ORDER);
        if (order == null) {
            violation("dead letter without an order number: " + letter);
            return;
        }
        int i = Integer.parseInt(order);
        if (!poison[i]) {
            violation("order " + i + " was dead-lettered although it is not poison ("
                    + letter.header(DeadLetters.REASON) + ": " + letter.header(DeadLetters.ERROR_MESSAGE) + ")");
        }
        if (!DeadLetters.REASON_RETRIES_EXHAUSTED.equals(letter.header(DeadLetters.REASON))
                || !Integer.toString(MAX_ATTEMPTS).equals(letter.header(DeadLetters.ATTEMPTS))) {
            violation("dead letter of order " + i + " has reason " + letter.header(DeadLetters.REASON)
                    + " after " + letter.header(DeadLetters.ATTEMPTS) + " attempts");
        }
        if (!Arrays.equals(letter.payload(), order(i).payload())) {
            violation("dead letter of order " + i + " does not carry the original payload");
        }
        if (deadLettered.getAndIncrement(i) == 0) {
            deadLettersSeen.incrementAndGet();
        }
    }

    void violation(String text) {
        violations.add(text);
    }

    int publishedCount() {
        return published.get();
    }

    int handledDistinct() {
        return handledDistinct.get();
    }

    int fromEarlierRuns() {
        return fromEarlierRuns.get();
    }

    int deadLettersSeen() {
        return deadLettersSeen.get();
    }

    boolean isComplete() {
        return published.get() == messages && handledDistinct.get() == messages - poisonCount
                && deadLettersSeen.get() == poisonCount;
    }

    /** Everything that went against the design; empty when the run was right. */
    List<String> check() {
        List<String> problems = new ArrayList<>(violations);
        int unhandled = 0;
        int missingDeadLetters = 0;
        for (int i = 0; i < messages; i++) {
            if (!poison[i] && state.get(i) != HANDLED) {
                unhandled++;
            }
            if (poison[i] && deadLettered.get(i) == 0) {
                missingDeadLetters++;
            }
        }
        if (published.get() != messages) {
            problems.add("published " + published.get() + " of " + messages + " orders");
        }
        if (unhandled > 0) {
            problems.add(unhandled + " orders were neither handled nor dead-lettered");
        }
        if (missingDeadLetters > 0) {
            problems.add(missingDeadLetters + " poison orders never reached the dead-letter topic");
        }
        return problems;
    }
}
