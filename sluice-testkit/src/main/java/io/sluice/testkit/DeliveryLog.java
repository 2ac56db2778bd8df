package io.sluice.testkit;

import io.sluice.Message;
import io.sluice.Receipt;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * What a contract test published and what its handlers finished, and the checks over them: per-key order, loss,
 * duplicates, peak concurrency, and whether a committed position passed an unfinished message. Thread-safe: handlers
 * record from many virtual threads.
 */
public final class DeliveryLog {
    /** Header carrying a message's sequence number within its key. */
    public static final String SEQ = "contract-seq";

    private final Map<String, Receipt> receipts = new ConcurrentHashMap<>();
    private final Map<String, AtomicInteger> handledCount = new ConcurrentHashMap<>();
    private final Map<String, Integer> nextSeqByKey = new ConcurrentHashMap<>();
    private final Map<String, Boolean> keyBusy = new ConcurrentHashMap<>();
    private final List<String> violations = java.util.Collections.synchronizedList(new ArrayList<>());
    private final AtomicInteger running = new AtomicInteger();
    private final AtomicInteger peakRunning = new AtomicInteger();
    private final AtomicLong handledTotal = new AtomicLong();

    public void published(Receipt receipt) {
        receipts.put(receipt.messageId(), receipt);
    }

    public Receipt receipt(String messageId) {
        return receipts.get(messageId);
    }

    public Map<String, Receipt> receipts() {
        return receipts;
    }

    /** Call when a handler starts: counts concurrency and checks that its key is not already being handled. */
    public void started(Message m) {
        int now = running.incrementAndGet();
        peakRunning.accumulateAndGet(now, Math::max);
        if (m.key() != null && keyBusy.put(m.key(), Boolean.TRUE) != null) {
            violations.add("two messages of key " + m.key() + " ran at once (" + m.id() + ")");
        }
    }

    /** Call when a handler ends, successfully or not. */
    public void ended(Message m) {
        if (m.key() != null) {
            keyBusy.remove(m.key());
        }
        running.decrementAndGet();
    }

    /**
     * Call when a handler succeeds. Checks per-key order: with {@code exactOrder}, sequence numbers of a key must
     * arrive exactly as 0, 1, 2, ...; otherwise (redelivery allowed) a message may repeat but never come before all
     * its predecessors were handled once.
     */
    public void handled(Message m, boolean exactOrder) {
        handledCount.computeIfAbsent(m.id(), id -> new AtomicInteger()).incrementAndGet();
        handledTotal.incrementAndGet();
        String seqText = m.header(SEQ);
        if (m.key() == null || seqText == null) {
            return;
        }
        int seq = Integer.parseInt(seqText);
        nextSeqByKey.compute(m.key(), (k, next) -> {
            int expected = next == null ? 0 : next;
            if (exactOrder ? seq != expected : seq > expected) {
                violations.add("key " + k + ": handled seq " + seq + " while expecting " + expected);
            }
            return Math.max(expected, seq + 1);
        });
    }

    /** Call when a handler succeeds on a transport that promises no order: counts it, checks no order. */
    public void handledInAnyOrder(Message m) {
        handledCount.computeIfAbsent(m.id(), id -> new AtomicInteger()).incrementAndGet();
        handledTotal.incrementAndGet();
    }

    public int timesHandled(String messageId) {
        AtomicInteger c = handledCount.get(messageId);
        return c == null ? 0 : c.get();
    }

    /** Published messages not handled even once. */
    public List<String> unhandled() {
        List<String> missing = new ArrayList<>();
        for (String id : receipts.keySet()) {
            if (timesHandled(id) == 0) {
                missing.add(id);
            }
        }
        return missing;
    }

    public boolean allHandled() {
        return handledCount.size() >= receipts.size() && unhandled().isEmpty();
    }

    /** Messages handled more than once. */
    public long duplicates() {
        return handledCount.values().stream().filter(c -> c.get() > 1).count();
    }

    public long handledTotal() {
        return handledTotal.get();
    }

    public int distinctHandled() {
        return handledCount.size();
    }

    public int peakConcurrency() {
        return peakRunning.get();
    }

    public List<String> violations() {
        synchronized (violations) {
            return List.copyOf(violations);
        }
    }

    /**
     * Checks that {@code committedNextOffset} of {@code partition} does not pass a message that was never handled:
     * every published message below it must have been handled at least once.
     */
    public void checkCommitted(int partition, long committedNextOffset) {
        for (Receipt r : receipts.values()) {
            if (r.partition() == partition && r.offset() < committedNextOffset && timesHandled(r.messageId()) == 0) {
                violations.add("committed offset " + committedNextOffset + " of partition " + partition
                        + " passed unfinished message at offset " + r.offset());
            }
        }
    }
}
