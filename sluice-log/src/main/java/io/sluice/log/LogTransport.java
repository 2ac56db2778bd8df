package io.sluice.log;

import io.sluice.Message;
import io.sluice.Receipt;
import io.sluice.log.internal.BatchDecoder;
import io.sluice.log.internal.FileIo;
import io.sluice.log.internal.LogStore;
import io.sluice.log.internal.PartitionCursor;
import io.sluice.log.internal.PartitionLog;
import io.sluice.log.internal.TopicLog;
import io.sluice.spi.Acknowledgement;
import io.sluice.spi.ConsumerSpec;
import io.sluice.spi.PartitionListener;
import io.sluice.spi.Transport;
import io.sluice.spi.TransportCapabilities;
import io.sluice.spi.TransportConsumer;
import io.sluice.spi.TransportProducer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;

/**
 * The embedded log as a Sluice transport ({@code transport: log}): durable, partitioned topics in a local directory,
 * in the manner of Kafka's log segments, with consumer groups that split partitions within this process and commit
 * their offsets durably next to the data.
 *
 * <pre>
 *  &lt;dir&gt;/
 *  ├── .lock                          pid of the owning process, held with an exclusive OS file lock
 *  │                                  (log inspect/verify hold a shared one while no process has the log open)
 *  └── &lt;topic&gt;/                       topic name, with bytes other than [A-Za-z0-9._-] as %XX
 *      ├── topic.properties           partitions=N, fixed when the topic is created
 *      ├── groups/&lt;group&gt;.offsets     committed offsets: a journal of CRC-checked commit records
 *      └── &lt;partition&gt;/                0 .. N-1
 *          ├── recovery-point                   first segment not yet known sealed and forced
 *          ├── recovery-point.2                 its second copy (damage to one never loses it)
 *          ├── 00000000000000000000.log         record batches (format: io.sluice.log.internal.BatchFormat)
 *          ├── 00000000000000000000.index       sparse offset index, one entry per ~4 KiB
 *          ├── 00000000000000000000.timeindex   time index
 *          └── 00000000000000052817.log ...     the next segment, named by its base offset
 * </pre>
 *
 * <p>Durability follows {@link LogSettings#fsync()} (see {@link FsyncPolicy} for what each policy promises). On open
 * the log recovers every partition: segments not yet known to be on disk are checked batch by batch and cut at the
 * first torn or corrupt batch, indexes that do not match are rebuilt, and a corrupt sealed segment is reported and
 * never skipped; {@link #events()} lists what was found. A failed write or fsync stops the partition (its pending
 * publishes fail, later ones fail at once) until the log is reopened and recovered.
 *
 * <p>Besides the transport SPI it offers positioning a group by offset or time, reading records directly, and the
 * partition bounds, for tools and operators. Thread-safe.
 */
public final class LogTransport implements Transport {
    private final LogStore store;
    private final TransportProducer producer;

    private LogTransport(LogStore store) {
        this.store = store;
        this.producer = new LogProducer(store);
    }

    /**
     * Opens (creating if needed) the log in {@code settings.dir()} and recovers it.
     *
     * @throws LogLockedException   if another process has the directory open, naming it and the holder's pid
     * @throws UncheckedIOException if the directory cannot be read or written
     */
    public static LogTransport open(LogSettings settings) {
        return open(settings, FileIo.DEFAULT);
    }

    /** As {@link #open(LogSettings)}, reaching every data file through {@code io}: the seam tests observe fsync by. */
    static LogTransport open(LogSettings settings, FileIo io) {
        try {
            return new LogTransport(LogStore.open(settings, io));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open log directory " + settings.dir().toAbsolutePath() + ": " + e,
                    e);
        }
    }

    @Override
    public String name() {
        return "log";
    }

    @Override
    public TransportCapabilities capabilities() {
        return new TransportCapabilities(true, true, true, Acknowledgement.OFFSETS, false, false, false,
                store.settings().maxMessageBytes(), true); // a commit is one record in a group-committed journal
    }

    @Override
    public TransportProducer producer() {
        return producer;
    }

    @Override
    public TransportConsumer consumer(ConsumerSpec spec, PartitionListener listener) {
        return store.consumer(spec, listener);
    }

    @Override
    public OptionalLong committedOffset(String topic, String group, int partition) {
        long committed = store.committed(topic, group, partition);
        return committed < 0 ? OptionalLong.empty() : OptionalLong.of(committed);
    }

    /** The log directory. */
    public Path directory() {
        return store.root();
    }

    public LogSettings settings() {
        return store.settings();
    }

    /**
     * Appends one message directly (what the publisher does through {@link #producer()}), bounded by the publisher's
     * default publish timeout: see {@link #append(String, Message, Duration)}.
     */
    public CompletableFuture<Receipt> append(String topic, Message message) {
        return store.send(topic, message);
    }

    /**
     * Appends one message directly. Never waits on the calling thread: the first append to a topic that does not
     * exist yet creates it on the log's own thread, and the future fails with a {@link io.sluice.PublishException}
     * (the message not written) if the topic is not created within {@code timeout}.
     */
    public CompletableFuture<Receipt> append(String topic, Message message, Duration timeout) {
        return store.send(topic, message, timeout);
    }

    /** Counters since the log was opened: records, batches, bytes, fsyncs, records skipped after retention. */
    public LogStats stats() {
        return store.stats();
    }

    /** Names of the topics in the log. */
    public List<String> topics() {
        return store.topicNames();
    }

    /** Partitions of {@code topic}, creating the topic if it does not exist. */
    public int partitions(String topic) {
        return store.topic(topic).partitions().length;
    }

    /** The oldest offset {@code partition} of {@code topic} still holds (older ones went to retention). */
    public long startOffset(String topic, int partition) {
        return partition(topic, partition).logStartOffset();
    }

    /** The offset the next record appended to {@code partition} will get, as far as readers can see. */
    public long endOffset(String topic, int partition) {
        return partition(topic, partition).highWatermark();
    }

    /**
     * The offset of the first record of {@code partition} with a timestamp at or after {@code time}, found through
     * the time index; the end offset if there is none.
     *
     * @throws CorruptLogException if the search meets a corrupt batch
     */
    public long offsetForTime(String topic, int partition, Instant time) {
        try {
            return partition(topic, partition).offsetForTimestamp(time.toEpochMilli());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Moves the committed offsets of {@code group} on {@code topic} (the next offset each partition delivers),
     * durably. The group must have no active subscription in this process; its next members start there.
     *
     * @throws IllegalStateException if the group has active members
     */
    public void seekGroup(String topic, String group, Map<Integer, Long> nextOffsets) {
        store.resetGroup(topic, group, nextOffsets);
    }

    /**
     * Moves {@code group} on every partition of {@code topic} to the first record at or after {@code time} (see
     * {@link #offsetForTime}), durably, like {@link #seekGroup}.
     *
     * @return the offsets the group now starts from, per partition
     */
    public Map<Integer, Long> seekGroupToTime(String topic, String group, Instant time) {
        Map<Integer, Long> offsets = new LinkedHashMap<>();
        for (int p = 0; p < partitions(topic); p++) {
            offsets.put(p, offsetForTime(topic, p, time));
        }
        seekGroup(topic, group, offsets);
        return offsets;
    }

    /**
     * Reads up to {@code maxRecords} records of {@code partition} from {@code fromOffset} on (from the start offset
     * if that is older), without any group. Returns fewer, or none, at the end, and stops before a corrupt batch.
     *
     * @throws CorruptLogException if the first batch to read is corrupt
     */
    public List<LogRecord> read(String topic, int partition, long fromOffset, int maxRecords) {
        List<LogRecord> records = new ArrayList<>();
        try {
            PartitionCursor cursor = new PartitionCursor(partition(topic, partition), fromOffset);
            BatchDecoder decoder = new BatchDecoder();
            while (records.size() < maxRecords && cursor.fill(decoder)) {
                long offset = cursor.nextOffset();
                records.add(new LogRecord(topic, partition, offset, cursor.next()));
            }
        } catch (CorruptLogException e) {
            if (records.isEmpty()) {
                throw e;
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return records;
    }

    /**
     * What recovery found when the log was opened, and what happened since: torn tails cut, indexes rebuilt, corrupt
     * segments readers stopped at, records retention deleted before a group read them, partitions stopped by a failed
     * write or fsync. Oldest first.
     */
    public List<RecoveryEvent> events() {
        return store.events();
    }

    /** Rolls aged segments and deletes those past retention on every partition now, instead of at the next check. */
    public void enforceRetention() {
        store.enforceRetention();
    }

    private PartitionLog partition(String topic, int partition) {
        TopicLog t = store.topic(topic);
        if (partition < 0 || partition >= t.partitions().length) {
            throw new IllegalArgumentException("topic " + topic + " has partitions 0.." + (t.partitions().length - 1)
                    + ", not " + partition);
        }
        return t.partitions()[partition];
    }

    /** Writes what is queued, forces and closes every file and releases the directory. */
    @Override
    public void close() {
        store.close();
    }

    @Override
    public String toString() {
        return "LogTransport{" + store.root().toAbsolutePath() + '}';
    }

    /**
     * The publishing seam: sends never wait on the caller's thread (see {@link LogStore#send(String, Message,
     * Duration)}). The three-argument {@code send} is the SPI's variant that carries the publisher's
     * {@code publishTimeout} (it overrides {@code TransportProducer.send(String, Message, Duration)} where the SPI
     * declares it); the two-argument one bounds a first publish to a new topic by the default publish timeout.
     * Thread-safe.
     */
    private static final class LogProducer implements TransportProducer {
        private final LogStore store;

        LogProducer(LogStore store) {
            this.store = store;
        }

        @Override
        public CompletableFuture<Receipt> send(String topic, Message message) {
            return store.send(topic, message);
        }

        @Override
        public CompletableFuture<Receipt> send(String topic, Message message, Duration timeout) {
            return store.send(topic, message, timeout);
        }
    }
}
