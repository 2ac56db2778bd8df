package io.sluice.kafka;

import io.sluice.spi.TransientTransportException;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.RetriableCommitFailedException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.RebalanceInProgressException;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.errors.WakeupException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.Collection;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * The offset commits of one {@link KafkaTransportConsumer}. Per assigned partition it remembers the newest offset the
 * engine asked to commit and the newest the broker confirmed. A failed asynchronous commit is retried on the next
 * poll ({@link #retryFailed}) with the newest requested offset, and only if no newer commit was sent meanwhile, so a
 * retry never overtakes a newer commit. Whatever became of an asynchronous commit (failed, or its reply not in yet),
 * {@link #commitUnconfirmed} on revoke and close sends synchronously every offset asked for and not confirmed.
 * Callbacks of commits sent before a partition was revoked are ignored.
 *
 * <p>Threads: owned by the consumer's owner thread, like the {@link KafkaConsumer} it commits through; Kafka runs
 * the commit callbacks on that thread too, inside {@code poll} and commits.
 */
final class CommitTracker {
    private static final Logger log = LoggerFactory.getLogger(CommitTracker.class);
    private static final long REJOIN_WAIT_NANOS = TimeUnit.MILLISECONDS.toNanos(20);

    private final KafkaConsumer<byte[], byte[]> consumer;
    private final String group;
    private final Duration syncCommitTimeout;
    /** Told when a wakeup meant for the next poll interrupted a synchronous commit, so the poll still sees it. */
    private final Runnable wakeupDuringCommit;
    /** Commit bookkeeping of each partition assigned now; replaced on each assignment. */
    private final Map<TopicPartition, CommitState> commits = new HashMap<>();
    private long commitSeq;
    /** Failed commits flagged for retry since the last poll (some may be superseded since): a hint to look. */
    private int commitRetries;

    CommitTracker(KafkaConsumer<byte[], byte[]> consumer, String group, Duration syncCommitTimeout,
                  Runnable wakeupDuringCommit) {
        this.consumer = consumer;
        this.group = group;
        this.syncCommitTimeout = syncCommitTimeout;
        this.wakeupDuringCommit = wakeupDuringCommit;
    }

    /** {@code tp} was assigned (again): its bookkeeping starts afresh. */
    void assigned(TopicPartition tp) {
        commits.put(tp, new CommitState());
    }

    /** {@code tp} was revoked or lost; true if it was held. */
    boolean forget(TopicPartition tp) {
        return commits.remove(tp) != null;
    }

    /** True if {@code tp} is assigned now and handed to the engine. */
    boolean holds(TopicPartition tp) {
        return commits.containsKey(tp);
    }

    /**
     * Commit bookkeeping of one assigned partition. A callback of a commit sent under an earlier assignment finds
     * another (or no) state for its partition and is ignored.
     */
    private static final class CommitState {
        /** The newest offset the engine asked to commit; -1 before the first. */
        long requested = -1;
        /** The newest offset the broker confirmed in this assignment; -1 before the first. */
        long confirmed = -1;
        /** Sequence number of the newest commit sent for this partition. */
        long sentSeq;
        /** The newest commit failed and may succeed again: the next poll sends {@link #requested} again. */
        boolean retry;
        /** A synchronous commit timed out: do not spend the same time again before giving the partition up. */
        boolean syncTimedOut;
    }

    /** Records what the engine asks to commit on partitions held now, and commits it (waiting if {@code sync}). */
    void commit(Map<TopicPartition, Long> nextOffsets, boolean sync) {
        Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
        for (Map.Entry<TopicPartition, Long> e : nextOffsets.entrySet()) {
            CommitState state = commits.get(e.getKey());
            if (state != null) {
                state.requested = Math.max(state.requested, e.getValue());
                offsets.put(e.getKey(), new OffsetAndMetadata(e.getValue()));
            }
        }
        if (offsets.isEmpty()) {
            return;
        }
        if (!sync) {
            commitAsync(offsets);
            return;
        }
        commitSync(offsets);
    }

    /** Marks {@code offsets} as the newest commit of their partitions and returns their states, in step. */
    private Map<TopicPartition, CommitState> sending(Map<TopicPartition, OffsetAndMetadata> offsets, long seq) {
        Map<TopicPartition, CommitState> states = new HashMap<>();
        for (TopicPartition tp : offsets.keySet()) {
            CommitState state = commits.get(tp);
            if (state != null) {
                state.sentSeq = seq;
                state.retry = false;
                states.put(tp, state);
            }
        }
        return states;
    }

    private void commitAsync(Map<TopicPartition, OffsetAndMetadata> offsets) {
        long seq = ++commitSeq;
        Map<TopicPartition, CommitState> states = sending(offsets, seq);
        consumer.commitAsync(offsets, (committed, error) -> {
            if (error == null) {
                confirmed(offsets, states);
            } else {
                onAsyncCommitFailed(offsets, states, seq, error);
            }
        });
    }

    private void confirmed(Map<TopicPartition, OffsetAndMetadata> offsets, Map<TopicPartition, CommitState> states) {
        states.forEach((tp, state) -> {
            if (commits.get(tp) == state) {
                state.confirmed = Math.max(state.confirmed, offsets.get(tp).offset());
                state.syncTimedOut = false;
            }
        });
    }

    private void onAsyncCommitFailed(Map<TopicPartition, OffsetAndMetadata> offsets,
                                     Map<TopicPartition, CommitState> states, long seq, Exception error) {
        boolean retriable = error instanceof RetriableCommitFailedException || error instanceof RetriableException
                || error instanceof RebalanceInProgressException;
        if (!retriable) {
            log.warn("Commit of {} for group {} failed: {}; the next commit of these partitions supersedes it",
                    offsets, group, error.toString());
            return;
        }
        log.debug("Async commit of {} for group {} failed; retrying on the next poll", offsets, group, error);
        states.forEach((tp, state) -> {
            // A newer commit of the partition is on its way (or done): retrying this one could only overtake it.
            if (commits.get(tp) == state && state.sentSeq == seq && !state.retry) {
                state.retry = true;
                commitRetries++;
            }
        });
    }

    /** Sends again, with the newest requested offsets, the commits whose newest attempt failed. */
    void retryFailed() {
        if (commitRetries == 0) {
            return;
        }
        Map<TopicPartition, OffsetAndMetadata> retry = new HashMap<>();
        for (Map.Entry<TopicPartition, CommitState> e : commits.entrySet()) {
            CommitState state = e.getValue();
            if (state.retry) {
                state.retry = false;
                if (state.requested > state.confirmed) {
                    retry.put(e.getKey(), new OffsetAndMetadata(state.requested));
                }
            }
        }
        commitRetries = 0;
        if (!retry.isEmpty()) {
            commitAsync(retry);
        }
    }

    /** Partitions whose newest commit failed and is to be sent again on the next poll. */
    int awaitingRetry() {
        int n = 0;
        for (CommitState state : commits.values()) {
            n += state.retry ? 1 : 0;
        }
        return n;
    }

    /**
     * Commits synchronously what the engine asked to commit on {@code partitions} and the broker has not confirmed:
     * an asynchronous commit fails while the group rebalances, and the engine, which counts it as done, would not
     * ask again before the partitions move. Failures are logged, not thrown: the partitions move anyway.
     */
    void commitUnconfirmed(Collection<TopicPartition> partitions) {
        Map<TopicPartition, OffsetAndMetadata> unconfirmed = new HashMap<>();
        for (TopicPartition tp : partitions) {
            CommitState state = commits.get(tp);
            if (state != null && state.requested > state.confirmed && !state.syncTimedOut) {
                unconfirmed.put(tp, new OffsetAndMetadata(state.requested));
            }
        }
        if (unconfirmed.isEmpty()) {
            return;
        }
        try {
            commitSync(unconfirmed);
        } catch (RuntimeException e) {
            log.warn("Committing {} of group {} before giving the partitions up failed: {}; the next owner may see "
                    + "their finished records again", unconfirmed, group, e.toString());
        }
    }

    /**
     * Commits and waits (up to the sync commit timeout). A wakeup meant for the poll interrupts the wait: it is kept
     * for the next poll and the commit goes on; inside a rebalance callback several may come, one per handler that
     * finishes on another partition. A commit while this member is rejoining the group (on close, right after a
     * cooperative revoke) is refused until the join completes, which Kafka's heartbeat thread drives: try again
     * until then.
     */
    private void commitSync(Map<TopicPartition, OffsetAndMetadata> offsets) {
        long seq = ++commitSeq;
        Map<TopicPartition, CommitState> states = sending(offsets, seq);
        long deadline = System.nanoTime() + syncCommitTimeout.toNanos();
        try {
            while (true) {
                try {
                    consumer.commitSync(offsets, Duration.ofNanos(Math.max(0, deadline - System.nanoTime())));
                    break;
                } catch (WakeupException e) {
                    wakeupDuringCommit.run();
                } catch (RebalanceInProgressException e) {
                    if (System.nanoTime() - deadline >= 0) {
                        throw new TransientTransportException("committing " + offsets + " of group " + group
                                + " failed: the group was still rebalancing after " + syncCommitTimeout, e);
                    }
                    LockSupport.parkNanos(REJOIN_WAIT_NANOS);
                }
            }
            confirmed(offsets, states);
        } catch (RetriableException e) {
            boolean timedOut = e instanceof TimeoutException;
            states.forEach((tp, state) -> state.syncTimedOut |= timedOut);
            throw new TransientTransportException("committing " + offsets + " of group " + group + " failed: "
                    + e.getMessage(), e);
        }
    }
}
