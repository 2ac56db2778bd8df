package io.sluice.log.internal;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;

/**
 * Writes group commits to their journals on one platform thread, with group commit of its own: it takes every queued
 * commit, appends each to its journal, forces each touched journal once, then completes the futures. A commit's future
 * completes only after the fsync that covers it.
 *
 * <p>Thread-safe: {@link #commit} from any thread; file work on the store's own thread.
 */
public final class OffsetStore implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(OffsetStore.class);

    private record Commit(GroupOffsets group, int[] partitions, long[] offsets, CompletableFuture<Void> done) {
    }

    private static final Commit STOP = new Commit(null, null, null, null);

    private final LinkedBlockingQueue<Commit> queue = new LinkedBlockingQueue<>();
    private final Thread thread;
    private volatile boolean closed;

    public OffsetStore(String name) {
        this.thread = Thread.ofPlatform().daemon(true).name(name).start(this::run);
    }

    /** Records the commit in memory now and durably in the journal; the future completes once it is forced. */
    public CompletableFuture<Void> commit(GroupOffsets group, int[] partitions, long[] offsets) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        if (closed) {
            done.completeExceptionally(new IllegalStateException("the log is closed; commit of group " + group.group
                    + " on topic " + group.topic + " not stored"));
            return done;
        }
        for (int i = 0; i < partitions.length; i++) {
            group.set(partitions[i], offsets[i]);
        }
        queue.add(new Commit(group, partitions, offsets, done));
        return done;
    }

    private void run() {
        List<Commit> batch = new ArrayList<>();
        Map<GroupOffsets, Boolean> touched = new IdentityHashMap<>();
        boolean stop = false;
        while (!stop) {
            try {
                batch.add(queue.take());
            } catch (InterruptedException e) {
                return;
            }
            queue.drainTo(batch);
            long now = System.currentTimeMillis();
            IOException error = null;
            for (Commit c : batch) {
                if (c == STOP) {
                    stop = true;
                    continue;
                }
                try {
                    c.group.write(c.partitions, c.offsets, now);
                    touched.put(c.group, Boolean.TRUE);
                } catch (IOException e) {
                    error = e;
                }
            }
            for (GroupOffsets g : touched.keySet()) {
                try {
                    g.force(now);
                } catch (IOException e) {
                    error = e;
                }
            }
            for (Commit c : batch) {
                if (c == STOP) {
                    continue;
                }
                if (error == null) {
                    c.done.complete(null);
                } else {
                    log.warn("Storing the committed offsets of group {} on topic {} failed", c.group.group,
                            c.group.topic, error);
                    c.done.completeExceptionally(error);
                }
            }
            batch.clear();
            touched.clear();
        }
    }

    /** Stores what is queued, then stops the thread. */
    @Override
    public void close() {
        closed = true;
        queue.add(STOP);
        try {
            thread.join(30_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
