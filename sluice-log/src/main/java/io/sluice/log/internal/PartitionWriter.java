package io.sluice.log.internal;

import io.sluice.PublishException;
import io.sluice.Receipt;
import io.sluice.log.FsyncPolicy;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The single writer of one partition, with pipelined group commit. Publishers push appends onto a lock-free inbox
 * and, if the writer is idle, schedule it on the shared pool of writer threads. A run takes everything in the inbox
 * at once, encodes it into as few batches as fit and writes them. Under {@link FsyncPolicy#ALWAYS} the run then hands
 * the written group to the partition's sync task and returns: the sync task forces the file once for every group
 * written so far, then makes them visible to readers and completes their futures. So while one fsync runs, the writer
 * already encodes and writes the next group, and the fsyncs run back to back, each covering everything that arrived
 * during the previous one: the number of fsyncs adapts to the load, not to the number of publishers.
 *
 * <p>Only one pool thread runs a given writer at a time (the {@code scheduled} flag), which makes it the owner of
 * the partition's {@link PartitionLog} write side; likewise one runs its sync task at a time ({@code syncScheduled}),
 * which only forces, publishes what was forced, and completes futures. Pool threads are platform threads: fsync never
 * blocks a virtual-thread carrier. Futures complete on a pool thread (the writer's, or under {@code always} the sync
 * task's): callbacks attached to them must not block.
 *
 * <p>A failed write or fsync - on the writer, in the sync task, or in the background flush of a rolled segment - stops
 * the partition ({@link PartitionLog#stop}): every publish not yet acknowledged fails (the records may or may not be
 * on disk, which the message says), every later append fails at once until the log is reopened and recovered, the
 * recovery point stays where it was, and the transport reports it as a {@code PARTITION_STOPPED} event. After an
 * fsync error the state of the page cache is unknown, so carrying on could acknowledge records that are not durable.
 *
 * <p>Thread-safe: {@link #submit}, {@link #requestFlush}, {@link #requestMaintenance} and {@link #close} may be called
 * by any thread.
 */
public final class PartitionWriter implements Runnable {
    private static final Logger log = LoggerFactory.getLogger(PartitionWriter.class);
    private static final int FLUSH = 1;
    private static final int MAINTAIN = 2;
    private static final int CLOSE = 4;

    private final PartitionLog partition;
    private final Executor executor;
    private final FsyncPolicy policy;
    private final ThreadLocal<BatchBuilder> builders;
    private final Runnable onPublish;
    private final Counters counters;
    private final AtomicReference<PendingAppend> inbox = new AtomicReference<>();
    private final AtomicInteger requests = new AtomicInteger();
    private final AtomicBoolean scheduled = new AtomicBoolean();
    private final CompletableFuture<Void> closed = new CompletableFuture<>();
    private ArrayList<PendingAppend> written = new ArrayList<>();
    /** Groups written but not yet forced (fsync {@code always}), oldest first; taken by the sync task. */
    private final java.util.concurrent.ConcurrentLinkedQueue<Group> unsynced =
            new java.util.concurrent.ConcurrentLinkedQueue<>();
    private final AtomicBoolean syncScheduled = new AtomicBoolean();
    /** Segments sealed without forcing (fsync interval or never), forced in order by the flush task. */
    private final java.util.concurrent.ConcurrentLinkedQueue<Segment> unflushed =
            new java.util.concurrent.ConcurrentLinkedQueue<>();
    private final AtomicBoolean flushScheduled = new AtomicBoolean();
    private final AtomicBoolean closeOnce = new AtomicBoolean();
    private volatile boolean closing;
    private final java.util.concurrent.ConcurrentLinkedQueue<CompletableFuture<Void>> barriers =
            new java.util.concurrent.ConcurrentLinkedQueue<>();

    // Owned by the thread running the writer.
    private boolean dirty;
    private boolean closedDone;
    /** The first failed write or fsync (writer, sync or flush task: any of them sets it); see {@link #stop}. */
    private volatile Throwable failure;

    /**
     * @param builders  batch buffers of the pool threads (one per thread, not per partition, to bound memory)
     * @param onPublish told after newly appended records became visible to readers
     */
    public PartitionWriter(PartitionLog partition, Executor executor, FsyncPolicy policy,
                           ThreadLocal<BatchBuilder> builders, Runnable onPublish, Counters counters) {
        this.counters = counters;
        partition.onSealedUnforced(this::queueFlush);
        this.partition = partition;
        this.executor = executor;
        this.policy = policy;
        this.builders = builders;
        this.onPublish = onPublish;
    }

    public PartitionLog partition() {
        return partition;
    }

    /** Queues an append; its future completes when the record is stored (and forced, under {@code always}). */
    public void submit(PendingAppend a) {
        PendingAppend head;
        do {
            head = inbox.get();
            a.next = head;
        } while (!inbox.compareAndSet(head, a));
        schedule();
    }

    /** Asks for an fsync of anything written and not yet forced ({@code interval} policy). */
    public void requestFlush() {
        request(FLUSH);
    }

    /** Asks for an age roll and retention check. */
    public void requestMaintenance() {
        request(MAINTAIN);
    }

    /** Writes what is queued, forces and closes the partition's files; completes when done. */
    public CompletableFuture<Void> close() {
        request(CLOSE);
        return closed;
    }

    /** Completes {@code done} once everything requested before this call has been processed. */
    public void submitBarrier(CompletableFuture<Void> done) {
        barriers.add(done);
        schedule();
    }

    /** The failure that stopped this partition's appends, or null. */
    public Throwable failure() {
        return failure;
    }

    private void request(int flag) {
        requests.getAndUpdate(r -> r | flag);
        schedule();
    }

    private void schedule() {
        // Reading first keeps publishers from bouncing the flag's cache line while the writer runs anyway; the
        // writer re-checks its inbox after clearing the flag, so no push is left unseen.
        if (!scheduled.get() && scheduled.compareAndSet(false, true)) {
            try {
                executor.execute(this);
            } catch (RejectedExecutionException e) {
                scheduled.set(false);
                failChain(takeInbox(), new PublishException("the log is closed; nothing was appended to "
                        + partition.topic + "/" + partition.partition));
            }
        }
    }

    @Override
    public void run() {
        try {
            process();
        } catch (Throwable t) {
            log.error("Writer of {}/{} failed unexpectedly", partition.topic, partition.partition, t);
        } finally {
            scheduled.set(false);
            if (inbox.get() != null || requests.get() != 0 || !barriers.isEmpty()) {
                schedule();
            }
        }
    }

    private void process() {
        // Barriers first: a barrier seen here was queued after the requests it waits for, so those are seen below.
        ArrayList<CompletableFuture<Void>> due = new ArrayList<>(0);
        for (CompletableFuture<Void> b; (b = barriers.poll()) != null; ) {
            due.add(b);
        }
        int req = requests.getAndSet(0);
        PendingAppend chain = takeInbox();
        try {
            processRequests(req, chain);
        } finally {
            due.forEach(b -> b.complete(null));
        }
    }

    private void processRequests(int req, PendingAppend chain) {
        if (closedDone) {
            failChain(chain, new PublishException("the log is closed; nothing was appended to " + partition.topic
                    + "/" + partition.partition));
            return;
        }
        Throwable failed = failure;
        if (failed != null) {
            failChain(chain, stopped(failed));
        } else {
            try {
                if (chain != null) {
                    appendAll(chain);
                }
                if ((req & FLUSH) != 0 && dirty) {
                    long t0 = System.nanoTime();
                    partition.force();
                    counters.fsynced(System.nanoTime() - t0);
                    dirty = false;
                }
                if ((req & MAINTAIN) != 0) {
                    partition.maintain(System.currentTimeMillis());
                }
            } catch (Exception | Error e) {
                fail(e);
            }
        }
        if ((req & CLOSE) != 0) {
            closeNow();
        }
    }

    private void appendAll(PendingAppend chain) throws java.io.IOException {
        BatchBuilder b = builders.get();
        long now = System.currentTimeMillis();
        long next = partition.nextOffset();
        PendingAppend a = chain;
        try {
            while (a != null) {
                if (b.count() == 0) {
                    b.start(next, a.message.timestampMillis());
                }
                int size = b.sizeOf(a);
                if (!b.fits(size)) {
                    write(b, now);
                    b.start(next, a.message.timestampMillis());
                    size = b.sizeOf(a);
                }
                b.add(a, size);
                a.offset = next++;
                PendingAppend following = a.next;
                a.next = null;
                written.add(a);
                a = following;
            }
            if (b.count() > 0) {
                write(b, now);
            }
        } catch (java.io.IOException | RuntimeException | Error e) {
            b.start(0, 0);
            failChain(a, stopped(e));
            throw e;
        }
    }

    /**
     * Writes the finished batch, then passes its records on at once: under {@code always} to the sync task, otherwise
     * straight to readers and publishers. Doing this per batch rather than per run keeps acknowledgements flowing
     * while a long run is still encoding, so publishers and the writer work in parallel.
     */
    private void write(BatchBuilder b, long now) throws java.io.IOException {
        Throwable stoppedBy = failure;
        if (stoppedBy != null) {
            // the sync or flush task failed while this run was encoding: nothing more goes to the file
            throw new java.io.IOException("the partition stopped after a failed fsync", stoppedBy);
        }
        ByteBuffer batch = b.finish();
        counters.batches.increment();
        counters.bytes.add(batch.remaining());
        partition.append(batch, b.baseOffset(), b.nextOffset(), b.maxTimestamp(), now);
        b.start(b.nextOffset(), 0);
        counters.records.add(written.size());
        if (policy == FsyncPolicy.ALWAYS) {
            Segment active = partition.active();
            unsynced.add(new Group(active, active.size(), active.nextOffset(), written));
            written = new ArrayList<>();
            scheduleSync();
        } else {
            dirty = true;
            partition.publish();
            onPublish.run();
            complete(written);
            written.clear();
        }
    }

    private static void complete(ArrayList<PendingAppend> appends) {
        for (int i = 0, n = appends.size(); i < n; i++) {
            PendingAppend done = appends.get(i);
            done.complete(new Receipt(done.topic, done.partition, done.offset, done.message.id()));
        }
    }

    /** Records written together, and where the log ended after them. */
    private record Group(Segment segment, long endPosition, long endOffset, ArrayList<PendingAppend> appends) {
    }

    private void scheduleSync() {
        if (!syncScheduled.get() && syncScheduled.compareAndSet(false, true)) {
            try {
                executor.execute(this::runSync);
            } catch (RejectedExecutionException e) {
                syncScheduled.set(false);
                failGroups(new PublishException("the log is closed before " + partition.topic + "/"
                        + partition.partition + " was forced; the records may or may not be stored"));
            }
        }
    }

    /**
     * Forces once for every group written so far, then publishes them and completes their futures in order. Groups
     * of a segment that rolled meanwhile were forced when it was sealed: {@link Segment#forceWritten} finds that
     * done, or fails if that seal's fsync failed, so a group is never acknowledged on the strength of a later
     * segment's fsync.
     */
    private void runSync() {
        try {
            ArrayList<Group> groups = new ArrayList<>();
            for (Group g; (g = unsynced.poll()) != null; ) {
                groups.add(g);
            }
            if (!groups.isEmpty()) {
                Group last = groups.get(groups.size() - 1);
                if (failure != null) {
                    failGroups(groups, stopped(failure));
                } else {
                    try {
                        long t0 = System.nanoTime();
                        Segment forced = null;
                        for (Group g : groups) {
                            if (g.segment() != forced) {
                                forced = g.segment();
                                forced.forceWritten();
                            }
                        }
                        counters.fsynced(System.nanoTime() - t0);
                    } catch (Exception | Error e) {
                        stop(e);
                        failGroups(groups, stopped(e));
                        return;
                    }
                    // Every segment the groups wrote to, not only the last: readers must reach the end of each.
                    for (Group g : groups) {
                        partition.publish(g.segment(), g.endPosition());
                    }
                    partition.raiseHighWatermark(last.endOffset());
                    onPublish.run();
                    for (Group g : groups) {
                        complete(g.appends());
                    }
                }
            }
        } catch (Throwable t) {
            log.error("Sync of {}/{} failed unexpectedly", partition.topic, partition.partition, t);
        } finally {
            syncScheduled.set(false);
            if (!unsynced.isEmpty()) {
                scheduleSync();
            } else {
                maybeFinishClose();
            }
        }
    }

    private void queueFlush(Segment sealed) {
        unflushed.add(sealed);
        scheduleFlush();
    }

    private void scheduleFlush() {
        if (flushScheduled.compareAndSet(false, true)) {
            try {
                executor.execute(this::runFlush);
            } catch (RejectedExecutionException e) {
                flushScheduled.set(false); // closing: the close forces what is left
            }
        }
    }

    /**
     * Forces segments that rolled under fsync {@code interval} or {@code never}, oldest first, moving the recovery
     * point past each. A failed fsync stops the partition, as on the write path: the state of the page cache is
     * unknown, so records written after it could be acknowledged without ever reaching the disk. The segment stays
     * out of the recovery point's reach (and so do all later ones), so the next open checks it batch by batch instead
     * of trusting it.
     */
    private void runFlush() {
        try {
            for (Segment s; (s = unflushed.poll()) != null; ) {
                if (failure != null) {
                    unflushed.clear(); // stopped: the point must not move; the next open checks these
                    break;
                }
                try {
                    partition.flushSealed(s);
                } catch (Exception | Error e) {
                    // It and the segments after it are checked batch by batch when the log is reopened.
                    stop(e);
                    unflushed.clear();
                    break;
                }
            }
        } finally {
            flushScheduled.set(false);
            if (!unflushed.isEmpty()) {
                scheduleFlush();
            } else {
                maybeFinishClose();
            }
        }
    }

    private void failGroups(Throwable error) {
        ArrayList<Group> groups = new ArrayList<>();
        for (Group g; (g = unsynced.poll()) != null; ) {
            groups.add(g);
        }
        failGroups(groups, error);
    }

    private static void failGroups(java.util.List<Group> groups, Throwable error) {
        for (Group g : groups) {
            for (PendingAppend p : g.appends()) {
                p.completeExceptionally(error);
            }
        }
    }


    /** Stops the partition after a failure on the writer and fails what this run wrote. */
    private void fail(Throwable e) {
        stop(e);
        PublishException error = stopped(e);
        for (PendingAppend p : written) {
            p.completeExceptionally(error);
        }
        written.clear();
    }

    /** Records the first failure (later ones are its consequences) and stops the partition; any thread. */
    private void stop(Throwable e) {
        if (failure == null) {
            failure = e;
        }
        partition.stop(failure);
    }

    private PublishException stopped(Throwable cause) {
        return new PublishException("append to " + partition.topic + "/" + partition.partition + " failed: "
                + cause + "; the record may or may not be stored, and the partition takes no appends until the log "
                + "is reopened", cause);
    }

    /** Stops taking appends; the files close once the sync task has forced every written group. */
    private void closeNow() {
        closedDone = true;
        closing = true;
        maybeFinishClose();
    }

    private void maybeFinishClose() {
        if (!closing || !unsynced.isEmpty() || syncScheduled.get() || !unflushed.isEmpty() || flushScheduled.get()
                || !closeOnce.compareAndSet(false, true)) {
            return;
        }
        try {
            if (failure == null) {
                partition.close();
            } else {
                partition.closeQuietly();
            }
        } catch (Exception e) {
            log.error("Closing {}/{} failed", partition.topic, partition.partition, e);
            partition.closeQuietly();
        }
        closed.complete(null);
    }

    /** Takes everything queued, oldest first. */
    private PendingAppend takeInbox() {
        PendingAppend newest = inbox.getAndSet(null);
        PendingAppend oldest = null;
        while (newest != null) {
            PendingAppend older = newest.next;
            newest.next = oldest;
            oldest = newest;
            newest = older;
        }
        return oldest;
    }

    private static void failChain(PendingAppend chain, Throwable error) {
        PendingAppend a = chain;
        while (a != null) {
            PendingAppend following = a.next;
            a.next = null;
            a.completeExceptionally(error);
            a = following;
        }
    }
}
