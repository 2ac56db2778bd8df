package io.sluice.log.internal;

import io.sluice.Message;
import io.sluice.PublishException;
import io.sluice.Receipt;
import io.sluice.config.PublisherOptions;
import io.sluice.log.FsyncPolicy;
import io.sluice.log.LogSettings;
import io.sluice.log.RecoveryEvent;
import io.sluice.spi.ConsumerSpec;
import io.sluice.spi.PartitionListener;
import io.sluice.spi.TransportConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The machinery behind {@code LogTransport}: the directory lock, the topics, the writer threads, the timer for
 * interval fsync and retention, and the offset store.
 *
 * <p>Threads: a fixed pool of {@code writerThreads} platform threads runs the partition writers; one platform
 * thread ({@code sluice-log-timer}) schedules flushes and retention and creates topics (so that directory creation
 * and its fsyncs never run on a caller's virtual thread); one platform thread stores group commits.
 *
 * <p>Thread-safe.
 */
public final class LogStore implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(LogStore.class);
    /** The bound of a send given none: the publisher's default {@code publishTimeout}. */
    private static final Duration DEFAULT_SEND_TIMEOUT = PublisherOptions.defaults().publishTimeout();

    private final LogSettings settings;
    private final Path root;
    private final DirectoryLock lock;
    private final ThreadPoolExecutor writerPool;
    private final ScheduledThreadPoolExecutor timer;
    private final OffsetStore offsets;
    private final ThreadLocal<BatchBuilder> builders;
    private final ConcurrentHashMap<String, TopicOpening> topics = new ConcurrentHashMap<>();
    private final List<RecoveryEvent> events = new CopyOnWriteArrayList<>();
    private final Counters counters = new Counters();
    private final FileIo io;
    private volatile boolean closed;

    private LogStore(LogSettings settings, DirectoryLock lock, FileIo io) {
        this.settings = settings;
        this.io = io;
        this.root = settings.dir();
        this.lock = lock;
        AtomicInteger n = new AtomicInteger();
        this.writerPool = new ThreadPoolExecutor(settings.writerThreads(), settings.writerThreads(), 0,
                TimeUnit.MILLISECONDS, new LinkedBlockingQueue<>(),
                r -> Thread.ofPlatform().daemon(true).name("sluice-log-writer-" + n.incrementAndGet()).unstarted(r));
        this.timer = new ScheduledThreadPoolExecutor(1,
                r -> Thread.ofPlatform().daemon(true).name("sluice-log-timer").unstarted(r));
        this.timer.setRemoveOnCancelPolicy(true);
        this.offsets = new OffsetStore("sluice-log-offsets");
        this.builders = ThreadLocal.withInitial(() -> new BatchBuilder(settings.compression()));
    }

    /**
     * Locks {@code settings.dir()} (creating it), recovers every topic in it, and starts the threads.
     *
     * @throws io.sluice.log.LogLockedException if another process has the directory open
     */
    public static LogStore open(LogSettings settings) throws IOException {
        return open(settings, FileIo.DEFAULT);
    }

    /** As {@link #open(LogSettings)}, with every data file reached through {@code io} (tests observe or fail it). */
    public static LogStore open(LogSettings settings, FileIo io) throws IOException {
        Path root = settings.dir();
        Files.createDirectories(root);
        DirectoryLock lock = DirectoryLock.acquire(root);
        LogStore store = new LogStore(settings, lock, io);
        try {
            store.recoverTopics();
            store.startTimers();
        } catch (IOException | RuntimeException | Error e) {
            store.closeAfterFailedOpen();
            throw e;
        }
        return store;
    }

    private void recoverTopics() throws IOException {
        long t0 = System.nanoTime();
        int count = 0;
        try (DirectoryStream<Path> dirs = Files.newDirectoryStream(root, Files::isDirectory)) {
            for (Path dir : dirs) {
                String name = Names.decode(dir.getFileName().toString());
                if (name == null || dir.getFileName().toString().startsWith(".")
                        || !Files.exists(dir.resolve(TopicLog.META_FILE))) {
                    log.warn("Ignoring {} in the log directory: not a topic of the log", dir);
                    continue;
                }
                TopicLog topic = TopicLog.open(root, name, settings, writerPool, builders, counters, io,
                        this::event);
                topics.put(name, TopicOpening.open(topic));
                clampCommits(topic);
                count++;
            }
        }
        log.info("Opened log {} ({} topics, {} recovery events) in {} ms; {}", root.toAbsolutePath(), count,
                events.size(), (System.nanoTime() - t0) / 1_000_000, settings);
    }

    /** After a cut tail a group may have committed past the new end: it restarts at the end instead. */
    private void clampCommits(TopicLog topic) {
        for (LogGroup g : topic.groups()) {
            for (int p = 0; p < topic.partitions.length; p++) {
                long committed = g.offsets.committed(p);
                long end = topic.partitions[p].highWatermark();
                if (committed > end) {
                    event(new RecoveryEvent(RecoveryEvent.Kind.COMMIT_CLAMPED, topic.name, p, g.offsets.file, -1,
                            committed, 0, "group " + g.name + " had committed offset " + committed + " past the end "
                            + end + " of the recovered partition; it resumes at " + end));
                    offsets.commit(g.offsets, new int[] {p}, new long[] {end});
                }
            }
        }
    }

    private void startTimers() {
        long retention = settings.retentionCheckInterval().toNanos();
        timer.scheduleWithFixedDelay(() -> forEachWriter(PartitionWriter::requestMaintenance), retention, retention,
                TimeUnit.NANOSECONDS);
        if (settings.fsync() == FsyncPolicy.INTERVAL) {
            long interval = settings.fsyncInterval().toNanos();
            timer.scheduleAtFixedRate(() -> forEachWriter(PartitionWriter::requestFlush), interval, interval,
                    TimeUnit.NANOSECONDS);
        }
    }

    private void forEachWriter(java.util.function.Consumer<PartitionWriter> action) {
        for (TopicOpening o : topics.values()) {
            TopicLog t = o.future().getNow(null);
            if (t != null) {
                for (PartitionWriter w : t.writers) {
                    action.accept(w);
                }
            }
        }
    }

    private void event(RecoveryEvent e) {
        events.add(e);
    }

    public LogSettings settings() {
        return settings;
    }

    public Path root() {
        return root;
    }

    /** Recovery and corruption events so far, oldest first. */
    public List<RecoveryEvent> events() {
        return List.copyOf(events);
    }

    public io.sluice.log.LogStats stats() {
        return counters.snapshot();
    }

    /** Names of the topics in the log. */
    public List<String> topicNames() {
        return List.copyOf(topics.keySet());
    }

    /**
     * The topic {@code name}, created with the default partition count if it does not exist. Waits for the creation:
     * for subscribing and the operator calls, not for publishing (see {@link #send}).
     */
    public TopicLog topic(String name) {
        CompletableFuture<TopicLog> f = opening(name).future();
        try {
            return f.get(60, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while opening topic " + name, e);
        } catch (ExecutionException e) {
            throw openFailure(name, e.getCause());
        } catch (TimeoutException e) {
            throw new IllegalStateException("topic " + name + " was not opened within 60s");
        }
    }

    /** Topic {@code name}, whose opening is started if it does not exist yet; never waits. */
    private TopicOpening opening(String name) {
        TopicOpening o = topics.get(name);
        if (o != null) {
            return o;
        }
        Names.encode(name); // fails on an empty or too long name before anything is created
        if (closed) {
            throw new IllegalStateException("the log " + root + " is closed");
        }
        TopicOpening mine = TopicOpening.pending(name);
        o = topics.putIfAbsent(name, mine);
        if (o != null) {
            return o;
        }
        // Directory creation and its fsyncs run on the timer's platform thread, never on a virtual thread.
        timer.execute(() -> {
            TopicLog topic = null;
            Throwable error = null;
            try {
                topic = TopicLog.open(root, name, settings, writerPool, builders, counters, io, this::event);
                if (closed) {
                    error = new IllegalStateException("the log " + root + " was closed while the topic was created");
                }
            } catch (Throwable t) {
                topics.remove(name, mine);
                error = t;
            }
            mine.opened(topic, error, e -> publishFailure(name, e));
        });
        return mine;
    }

    private PublishException publishFailure(String topicName, Throwable openError) {
        RuntimeException cause = openFailure(topicName, openError);
        return new PublishException("cannot publish to topic '" + topicName + "': " + cause.getMessage()
                + "; message not written", cause);
    }

    private RuntimeException openFailure(String name, Throwable cause) {
        if (cause instanceof CompletionException && cause.getCause() != null) {
            cause = cause.getCause();
        }
        if (cause instanceof IOException io) {
            return new UncheckedIOException("creating topic " + name + " in " + root + " failed", io);
        }
        return cause instanceof RuntimeException re ? re : new IllegalStateException(cause);
    }

    /** The topic {@code name} if it exists. */
    public TopicLog existingTopic(String name) {
        TopicOpening o = topics.get(name);
        return o == null ? null : o.future().getNow(null);
    }

    /**
     * Appends {@code message} to {@code topicName}; the future completes when it is stored as the fsync policy says.
     * Bounded by the publisher's default publish timeout (see {@link #send(String, Message, Duration)}).
     */
    public CompletableFuture<Receipt> send(String topicName, Message message) {
        return send(topicName, message, DEFAULT_SEND_TIMEOUT);
    }

    /**
     * Appends {@code message} to {@code topicName} without ever waiting on the caller's thread. The first publish to
     * a topic that does not exist yet creates it on the timer's platform thread and queues the append once it is
     * open; if the topic is not open within {@code timeout} the future fails with a {@link PublishException} and the
     * record is not written. Waiting here instead would hold the caller - typically a handler's virtual thread
     * sending its topic's first dead letter - for as long as directory creation and its fsyncs take.
     */
    public CompletableFuture<Receipt> send(String topicName, Message message, Duration timeout) {
        if (closed) {
            return CompletableFuture.failedFuture(new PublishException("the log " + root + " is closed; message not "
                    + "published to " + topicName));
        }
        Message m = message.withDefaults(System.currentTimeMillis());
        PendingAppend append = new PendingAppend(topicName, -1, m);
        int size = append.encodedSize(0);
        if (size > settings.maxMessageBytes()) {
            return CompletableFuture.failedFuture(new PublishException("message " + m.id() + " is " + size
                    + " bytes encoded (key, value, headers and id), larger than log.maxMessageBytes="
                    + settings.maxMessageBytes() + "; not published to " + topicName));
        }
        TopicOpening opening;
        try {
            opening = opening(topicName);
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(new PublishException("cannot publish to topic '" + topicName + "': "
                    + e.getMessage(), e));
        }
        TopicLog topic = opening.ready();
        if (topic != null) {
            submit(topic, append); // the usual case: the topic is open, nothing to wait for
        } else {
            opening.append(append, timeout, e -> publishFailure(topicName, e));
        }
        return append;
    }

    /** Queues {@code append} to the writer of its partition of {@code topic}: a lock-free push. */
    static void submit(TopicLog topic, PendingAppend append) {
        int partition = topic.partitionFor(append.message);
        append.partition = partition;
        topic.writer(partition).submit(append);
    }

    /** A new member of {@code spec.group()} on {@code spec.topic()}. */
    public TransportConsumer consumer(ConsumerSpec spec, PartitionListener listener) {
        Names.encode(spec.group());
        return new LogConsumer(topic(spec.topic()), spec, listener, offsets, this::event);
    }

    /** The committed next offset of the group, or -1. */
    public long committed(String topicName, String group, int partition) {
        TopicLog t = existingTopic(topicName);
        LogGroup g = t == null ? null : t.existingGroup(group);
        return g == null ? -1 : g.offsets.committed(partition);
    }

    /**
     * Sets the committed offsets of a group with no member in this process, durably.
     *
     * @throws IllegalStateException if the group has members
     */
    public void resetGroup(String topicName, String group, Map<Integer, Long> nextOffsets) {
        TopicLog t = topic(topicName);
        LogGroup g = t.group(group);
        if (g.hasMembers()) {
            throw new IllegalStateException("group " + group + " on topic " + topicName + " has active members; close "
                    + "its subscriptions before moving its offsets");
        }
        int[] partitions = new int[nextOffsets.size()];
        long[] values = new long[nextOffsets.size()];
        int i = 0;
        for (Map.Entry<Integer, Long> e : nextOffsets.entrySet()) {
            int p = e.getKey();
            long offset = e.getValue();
            if (p < 0 || p >= t.partitions.length) {
                throw new IllegalArgumentException("topic " + topicName + " has partitions 0.." + (t.partitions.length
                        - 1) + ", not " + p);
            }
            if (offset < 0) {
                throw new IllegalArgumentException("offset " + offset + " for partition " + p + " is negative");
            }
            partitions[i] = p;
            values[i++] = offset;
        }
        try {
            offsets.commit(g.offsets, partitions, values).get(60, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while storing offsets of group " + group, e);
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException("storing offsets of group " + group + " failed: " + e, e);
        }
    }

    /** Rolls aged segments and applies retention on every partition now; returns when done. */
    public void enforceRetention() {
        List<CompletableFuture<Void>> done = new ArrayList<>();
        forEachWriter(w -> {
            CompletableFuture<Void> f = new CompletableFuture<>();
            done.add(f);
            w.requestMaintenance();
            w.submitBarrier(f);
        });
        CompletableFuture.allOf(done.toArray(new CompletableFuture[0])).join();
    }

    /** Writes what is queued, forces and closes every file, releases the directory lock. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        timer.shutdownNow();
        List<CompletableFuture<Void>> closing = new ArrayList<>();
        forEachWriter(w -> closing.add(w.close()));
        try {
            CompletableFuture.allOf(closing.toArray(new CompletableFuture[0])).get(60, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException | CompletionException e) {
            log.error("Closing the partitions of log {} did not finish cleanly", root, e);
        }
        offsets.close();
        writerPool.shutdown();
        try {
            writerPool.awaitTermination(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try {
            lock.close();
        } catch (IOException e) {
            log.warn("Releasing the lock of log {} failed", root, e);
        }
        log.info("Closed log {}", root.toAbsolutePath());
    }

    private void closeAfterFailedOpen() {
        closed = true;
        timer.shutdownNow();
        for (TopicOpening o : topics.values()) {
            TopicLog t = o.future().getNow(null);
            if (t != null) {
                for (PartitionLog p : t.partitions) {
                    p.closeQuietly();
                }
            }
        }
        offsets.close();
        writerPool.shutdownNow();
        try {
            lock.close();
        } catch (IOException e) {
            // the open already failed; the lock goes with the process at the latest
        }
    }
}
