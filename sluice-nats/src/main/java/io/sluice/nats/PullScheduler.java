package io.sluice.nats;

import io.nats.client.Connection;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

/**
 * Pull scheduling for one JetStream group member: which owned partitions get a pull request and how large, and the
 * accounting of requests still outstanding. At most one request is outstanding per partition; it counts from the
 * moment it is sent until the server ends it (a status, or its batch filled) or until its deadline (sent + pull
 * expiry + grace) has passed, by which time the server has surely dropped it. So "nothing outstanding" means no pull
 * of this member can still receive the partition's messages, which is what lets a revoked partition be handed over.
 *
 * <p>Replies arrive on {@code <inbox>.<partition>.<request>}; statuses name their request, messages answer the
 * partition's current one.
 *
 * <p>Not thread-safe: owned by the subscription's poll thread, like the {@link JetStreamPartition}s it updates.
 */
final class PullScheduler {
    private static final Logger log = LoggerFactory.getLogger(PullScheduler.class);
    /** A message reply: it answers the partition's current request. */
    static final long CURRENT_REQUEST = -1;
    /** Pause before pulling again on a partition whose last pull ended in an error status. */
    private static final long PULL_RETRY_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
    private static final long UNLIMITED = -1;
    /** The largest max_bytes sent; more is as good as none. */
    private static final long MAX_PULL_BYTES = 1L << 40;

    private final Connection nc;
    private final GroupCoordinator group;
    private final JetStreamPartition[] parts;
    private final String inbox;
    private final String topic;
    private final int maxBatch;
    private final long pullExpiryNanos;
    private final long pullGraceNanos;
    /** The server's max_payload: no message is larger. */
    private final long maxPayload;
    /** Size of the largest message fetched so far (0: none yet), the estimate for sizing pulls by batch alone. */
    private long largestSeen;
    private int outstandingTotal;
    private long outstandingBytes;
    private boolean unlimitedPullOut;
    private int rotate;

    PullScheduler(Connection nc, GroupCoordinator group, JetStreamPartition[] parts, String inbox, String topic,
                  NatsSettings settings) {
        this.nc = nc;
        this.group = group;
        this.parts = parts;
        this.inbox = inbox;
        this.topic = topic;
        this.maxBatch = settings.maxBatch;
        this.pullExpiryNanos = settings.pullExpiry.toNanos();
        this.pullGraceNanos = Math.max(TimeUnit.SECONDS.toNanos(1), pullExpiryNanos);
        long payload = nc.getServerInfo() == null ? 0 : nc.getServerInfo().getMaxPayload();
        this.maxPayload = payload > 0 ? payload : 1024 * 1024;
    }

    /** Messages all outstanding requests may still deliver. */
    int outstanding() {
        return outstandingTotal;
    }

    /**
     * Accounts a reply to {@code p}'s pull requests: a status (404, 408, 409) ends the request it names, if that is
     * the current one; a message uses up one message and its bytes of the current request.
     */
    void onReply(JetStreamPartition p, JetStreamConsumer.Fetched f, long now) {
        boolean current = (f.request == CURRENT_REQUEST || f.request == p.request) && p.outstanding > 0;
        if (!current) {
            return;
        }
        if (f.status != 0) {
            if (f.status == 409 && f.statusText != null && f.statusText.startsWith("Message Size")) {
                // The next message did not fit the bytes offered: wait for more room (see requestMore).
                p.largeHead = true;
                p.failedBytes = p.requestBytes;
            } else if (f.status != 408 && f.status != 404) {
                p.retryAt = now + PULL_RETRY_NANOS;
                log.debug("Pull on partition {} of topic {} ended: {} {}", p.index, topic, f.status, f.statusText);
            }
            end(p);
            return;
        }
        if (f.size > largestSeen) {
            largestSeen = f.size;
        }
        p.outstanding--;
        outstandingTotal--;
        long used = Math.min(f.size, p.requestBytes);
        p.requestBytes -= used;
        outstandingBytes -= used;
        if (p.outstanding == 0) {
            end(p);
        }
    }

    /** Pull requests whose reply never came (lost in a disconnect) stop counting after expiry plus a grace. */
    void expire(long now) {
        for (JetStreamPartition p : parts) {
            if (p.outstanding > 0 && now - p.requestDeadline > 0) {
                end(p);
            }
        }
    }

    /**
     * After a reconnect, pull requests sent before it (or kept in jnats' reconnect buffer and sent on reconnecting)
     * may still be alive on the server for one pull expiry: they keep counting until then, so this member does not
     * ask for the same room twice.
     */
    void extend(long now) {
        for (JetStreamPartition p : parts) {
            if (p.outstanding > 0) {
                p.requestDeadline = Math.max(p.requestDeadline, now + pullExpiryNanos + pullGraceNanos);
            }
        }
    }

    private void end(JetStreamPartition p) {
        outstandingTotal -= p.outstanding;
        p.outstanding = 0;
        outstandingBytes -= p.requestBytes;
        p.requestBytes = 0;
        if (p.unlimited) {
            p.unlimited = false;
            unlimitedPullOut = false;
        }
    }

    /**
     * Sends pull requests for the room the engine has left, spread over owned partitions that have none outstanding.
     * A partition whose next message did not fit the bytes offered goes first and alone: nothing else is fetched
     * until the engine's free bytes exceed what it was offered, or until the engine is empty, when it may fetch that
     * one message without a byte limit (the engine takes one oversized message when it holds nothing else).
     *
     * @param buffered      messages fetched and not yet handed to the engine
     * @param bufferedBytes their bytes
     * @param inFlightBound the engine's in-flight bound
     */
    void requestMore(int room, long bytesRoom, boolean engineEmpty, int buffered, long bufferedBytes,
                     int inFlightBound, long now) {
        if (unlimitedPullOut || nc.getStatus() != Connection.Status.CONNECTED) {
            return; // while disconnected, pulls would only pile up in the reconnect buffer
        }
        int pipeline = buffered + outstandingTotal;
        int free = room - pipeline;
        long freeBytes = bytesRoom - bufferedBytes - outstandingBytes;
        int n = parts.length;
        for (int i = 0; i < n; i++) {
            JetStreamPartition p = parts[(rotate + i) % n];
            if (p.largeHead && pullable(p, now)) {
                int batch = Math.min(Math.min(free, maxBatch), ackRoom(p));
                if (engineEmpty && pipeline == 0 && ackRoom(p) > 0) {
                    pull(p, 1, UNLIMITED);
                } else if (freeBytes > p.failedBytes && batch > 0) {
                    pull(p, batch, freeBytes);
                }
                rotate = (rotate + 1) % n;
                return;
            }
        }
        // With work still in the pipeline, wait until a quarter of the bound is free instead of sending a pull
        // request per finished message: far fewer round trips when handlers are slow and the engine is full.
        int minPull = pipeline == 0 ? 1 : Math.max(1, Math.min(maxBatch, inFlightBound / 4));
        if (free < minPull || freeBytes <= 0) {
            return;
        }
        int idle = 0;
        for (JetStreamPartition p : parts) {
            if (pullable(p, now)) {
                idle++;
            }
        }
        if (idle == 0) {
            return;
        }
        int share = Math.max(1, free / idle);
        long bytesShare = Math.max(1, freeBytes / idle);
        for (int i = 0; i < n && free > 0 && freeBytes > 0; i++) {
            JetStreamPartition p = parts[(rotate + i) % n];
            if (pullable(p, now)) {
                int batch = Math.min(Math.min(share, maxBatch), Math.min(free, ackRoom(p)));
                if (batch > 0) {
                    long bytes = Math.min(bytesShare, freeBytes);
                    pull(p, batch, bytes);
                    free -= batch;
                    freeBytes -= bytes;
                }
            }
        }
        rotate = (rotate + 1) % n;
    }

    private boolean pullable(JetStreamPartition p, long now) {
        if (p.held && now - p.holdUntil >= 0) {
            p.held = false;
        }
        return p.owned && !p.revoking && !p.paused && !p.held && p.outstanding == 0 && now - p.retryAt >= 0;
    }

    /**
     * What the partition's {@code MaxAckPending} still allows: the server stops sending once that many of its messages
     * are unacknowledged, counting those waiting for a delayed redelivery.
     */
    private int ackRoom(JetStreamPartition p) {
        return group.maxAckPending() - (p.inEngine + p.buffered + p.outstanding + p.parked.size());
    }

    /**
     * Sends one pull request. Its deadline is stamped from the moment it is sent (never from a time read before a
     * callback): the server keeps a pull alive for the expiry from when it got it, and until that deadline the
     * request counts as outstanding, so a partition is not handed over while a pull of this member could still
     * receive its messages. Not sent once the lease time has run out.
     *
     * <p>The byte bound is kept by the batch size where it can be: if {@code batch} messages as large as the largest
     * seen so far (the server's max_payload before any) fit {@code maxBytes}, or a smaller batch does, the request
     * carries no {@code max_bytes}. nats-server 2.9.10 hands messages released to a pull request that carries
     * {@code max_bytes} out of stream order (a released message is skipped or a delivered one sent again), which
     * breaks key order when a partition changes hands; only when not even one such message fits is
     * {@code max_bytes} sent. A message larger than any seen before can overshoot the bound once; what is buffered
     * counts against the next requests.
     */
    private void pull(JetStreamPartition p, int batch, long maxBytes) {
        long sentAt = System.nanoTime();
        if (!group.leaseValid(sentAt)) {
            return;
        }
        long request = ++p.request;
        long bytes = maxBytes == UNLIMITED ? UNLIMITED : Math.min(maxBytes, MAX_PULL_BYTES);
        boolean sendMaxBytes = bytes != UNLIMITED;
        if (sendMaxBytes) {
            long fitting = bytes / (largestSeen > 0 ? largestSeen : maxPayload);
            if (fitting >= 1) {
                batch = (int) Math.min(batch, fitting);
                sendMaxBytes = false;
            }
        }
        if (log.isTraceEnabled()) {
            log.trace("pull {} batch {} max_bytes {} on partition {}", request, batch, sendMaxBytes ? bytes : "-",
                    p.index);
        }
        String body = "{\"batch\":" + batch + ",\"expires\":" + pullExpiryNanos
                + (sendMaxBytes ? ",\"max_bytes\":" + bytes : "") + "}";
        try {
            nc.publish(p.nextSubject, inbox + "." + p.index + "." + request, body.getBytes(StandardCharsets.US_ASCII));
        } catch (IllegalStateException e) {
            return; // connection closed: nothing outstanding; the next poll tries again
        }
        p.outstanding = batch;
        outstandingTotal += batch;
        p.unlimited = bytes == UNLIMITED;
        unlimitedPullOut |= p.unlimited;
        p.requestBytes = p.unlimited ? 0 : bytes;
        outstandingBytes += p.requestBytes;
        p.requestDeadline = sentAt + pullExpiryNanos + pullGraceNanos;
    }
}
