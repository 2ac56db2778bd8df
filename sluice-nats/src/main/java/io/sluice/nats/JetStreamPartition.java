package io.sluice.nats;

import java.util.HashMap;
import java.util.Map;

/**
 * What one JetStream group member knows about one partition: ownership, the pull request outstanding on it, and its
 * messages buffered or held by the engine. Plain state: owned by the subscription's poll thread (the
 * {@link JetStreamConsumer} and its {@link PullScheduler}), never touched by other threads.
 */
final class JetStreamPartition {
    final int index;
    /** {@code $JS.API.CONSUMER.MSG.NEXT.<stream>.<durable>}: where this partition's pull requests go. */
    final String nextSubject;
    /** Next attempt number of this member's delayed redeliveries still on the server, by stream sequence. */
    final Map<Long, Integer> parked = new HashMap<>();
    boolean owned;
    int epoch;
    boolean revoking;
    /** Paused by the engine: no pulls; what arrives waits in the buffer, with in-progress acks. */
    boolean paused;
    /** Number of the last pull request sent; replies name it in their inbox subject. */
    long request;
    /** Messages the outstanding request may still deliver (0: none outstanding). */
    int outstanding;
    /** Bytes the outstanding request may still deliver (0 when none, or for an unlimited one). */
    long requestBytes;
    boolean unlimited;
    /** Until when the outstanding request may be alive on the server (sent + pull expiry + grace). */
    long requestDeadline;
    long retryAt;
    /** Messages of this partition in the buffer, and delivered to the engine and not finished. */
    int buffered;
    int inEngine;
    /** The last pull ended because the next message did not fit its bytes; {@code failedBytes} were offered. */
    boolean largeHead;
    long failedBytes;
    long lastPending = -1;
    /** Pulls wait until {@code holdUntil} after a takeover from a member that left messages unacknowledged. */
    boolean held;
    long holdUntil;

    JetStreamPartition(int index, String nextSubject) {
        this.index = index;
        this.nextSubject = nextSubject;
    }
}
