package io.sluice.nats;

import io.nats.client.JetStreamApiException;
import io.nats.client.JetStreamManagement;
import io.nats.client.api.AckPolicy;
import io.nats.client.api.ConsumerConfiguration;
import io.nats.client.api.ConsumerInfo;
import io.nats.client.api.DeliverPolicy;
import io.nats.client.api.RetentionPolicy;
import io.nats.client.api.StorageType;
import io.nats.client.api.StreamConfiguration;
import io.nats.client.api.StreamInfo;
import io.sluice.SluiceException;
import io.sluice.config.StartPosition;
import io.sluice.spi.TransientTransportException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Creates or verifies the stream of each topic from {@code nats.stream} settings, once per topic per transport, and
 * the durable consumers of groups. Thread-safe: the first caller for a topic does the JetStream API calls (no lock is
 * held meanwhile); others wait for its result.
 */
final class StreamRegistry {
    private static final Logger log = LoggerFactory.getLogger(StreamRegistry.class);
    private static final int STREAM_NOT_FOUND = 10059;
    private static final int CONSUMER_NOT_FOUND = 10014;

    private final JetStreamManagement jsm;
    private final NatsSettings settings;
    private final ConcurrentHashMap<String, CompletableFuture<TopicStream>> topics = new ConcurrentHashMap<>();

    StreamRegistry(JetStreamManagement jsm, NatsSettings settings) {
        this.jsm = jsm;
        this.settings = settings;
    }

    /** The stream of a topic: its name and its partition subjects. */
    record TopicStream(String topic, String stream, String[] subjects) {
        int partitions() {
            return subjects.length;
        }
    }

    /** The stream of {@code topic}, creating or verifying it on first use. */
    TopicStream stream(String topic) {
        CompletableFuture<TopicStream> f = topics.get(topic);
        if (f != null && f.isDone() && !f.isCompletedExceptionally()) {
            return f.join();
        }
        if (f == null) {
            CompletableFuture<TopicStream> mine = new CompletableFuture<>();
            f = topics.putIfAbsent(topic, mine);
            if (f == null) {
                f = mine;
                try {
                    mine.complete(ensure(topic));
                } catch (RuntimeException e) {
                    topics.remove(topic, mine); // let a later call try again
                    mine.completeExceptionally(e);
                }
            }
        }
        try {
            return f.join();
        } catch (CompletionException e) {
            throw e.getCause() instanceof RuntimeException re ? re : e;
        }
    }

    private TopicStream ensure(String topic) {
        Names.checkTopic(topic, false);
        String name = Names.stream(topic);
        String[] subjects = new String[settings.partitions];
        for (int p = 0; p < subjects.length; p++) {
            subjects[p] = Names.subject(topic, p);
        }
        StreamConfiguration wanted = StreamConfiguration.builder()
                .name(name)
                .subjects(subjects)
                .storageType(settings.storage == NatsSettings.Storage.FILE ? StorageType.File : StorageType.Memory)
                .retentionPolicy(switch (settings.retention) {
                    case LIMITS -> RetentionPolicy.Limits;
                    case INTEREST -> RetentionPolicy.Interest;
                    case WORKQUEUE -> RetentionPolicy.WorkQueue;
                })
                .maxAge(settings.maxAge)
                .maxBytes(settings.maxBytes)
                .duplicateWindow(settings.duplicateWindow)
                .description("Sluice topic " + topic)
                .build();
        try {
            StreamInfo info;
            try {
                info = jsm.getStreamInfo(name);
            } catch (JetStreamApiException e) {
                if (e.getApiErrorCode() != STREAM_NOT_FOUND) {
                    throw e;
                }
                try {
                    jsm.addStream(wanted);
                    log.info("Created JetStream stream {} for topic {}: subjects {}.0..{}, {} storage, {} retention",
                            name, topic, topic, subjects.length - 1, settings.storage, settings.retention);
                    return new TopicStream(topic, name, subjects);
                } catch (JetStreamApiException raced) {
                    info = jsm.getStreamInfo(name); // another client created it meanwhile: verify theirs
                }
            }
            verify(topic, info.getConfiguration(), wanted);
            return new TopicStream(topic, name, subjects);
        } catch (IOException e) {
            throw new TransientTransportException("could not create or verify JetStream stream " + name
                    + " for topic " + topic + ": " + e.getMessage(), e);
        } catch (JetStreamApiException e) {
            throw new SluiceException("JetStream refused stream " + name + " for topic " + topic + ": "
                    + e.getMessage(), e);
        }
    }

    private void verify(String topic, StreamConfiguration have, StreamConfiguration wanted)
            throws IOException, JetStreamApiException {
        Set<String> haveSubjects = new HashSet<>(have.getSubjects());
        Set<String> wantSubjects = new HashSet<>(wanted.getSubjects());
        if (!haveSubjects.equals(wantSubjects)) {
            throw new SluiceException("JetStream stream " + have.getName() + " of topic " + topic + " has subjects "
                    + have.getSubjects() + " but nats.stream.partitions=" + settings.partitions + " expects "
                    + wanted.getSubjects() + "; use the partition count the topic was created with");
        }
        if (have.getStorageType() != wanted.getStorageType() || have.getRetentionPolicy() != wanted.getRetentionPolicy()) {
            // Named as nats.stream.storage and nats.stream.retention spell them, so the fix is plain.
            throw new SluiceException("JetStream stream " + have.getName() + " of topic " + topic + " has "
                    + lower(have.getStorageType()) + " storage and " + lower(have.getRetentionPolicy())
                    + " retention, but nats.stream asks for " + lower(wanted.getStorageType()) + " storage and "
                    + lower(wanted.getRetentionPolicy()) + " retention; storage and retention cannot change on an "
                    + "existing stream");
        }
        if (!have.getMaxAge().equals(wanted.getMaxAge()) || have.getMaxBytes() != wanted.getMaxBytes()
                || !have.getDuplicateWindow().equals(wanted.getDuplicateWindow())) {
            jsm.updateStream(StreamConfiguration.builder(have).maxAge(wanted.getMaxAge())
                    .maxBytes(wanted.getMaxBytes()).duplicateWindow(wanted.getDuplicateWindow()).build());
            log.info("Updated JetStream stream {} of topic {} to maxAge {}, maxBytes {}, duplicateWindow {}",
                    have.getName(), topic, wanted.getMaxAge(), wanted.getMaxBytes(), wanted.getDuplicateWindow());
        }
    }

    private static String lower(Enum<?> value) {
        return value.name().toLowerCase(java.util.Locale.ROOT);
    }

    /**
     * Creates the durable pull consumer of {@code group} on one partition, or updates its ack wait and max ack
     * pending when they differ. Blocking; called on a consumer's poll thread.
     *
     * @return messages the consumer has delivered and not yet seen acknowledged (0 for a new consumer)
     */
    long ensureConsumer(TopicStream ts, String group, int partition, StartPosition start, int maxAckPending)
            throws IOException, JetStreamApiException {
        String durable = Names.durable(group, partition);
        ConsumerInfo info = null;
        try {
            info = jsm.getConsumerInfo(ts.stream(), durable);
        } catch (JetStreamApiException e) {
            if (e.getApiErrorCode() != CONSUMER_NOT_FOUND) {
                throw e;
            }
        }
        if (info == null) {
            jsm.addOrUpdateConsumer(ts.stream(), ConsumerConfiguration.builder()
                    .durable(durable)
                    .filterSubject(ts.subjects()[partition])
                    .ackPolicy(AckPolicy.Explicit)
                    .deliverPolicy(start == StartPosition.LATEST ? DeliverPolicy.New : DeliverPolicy.All)
                    .ackWait(settings.ackWait)
                    .maxAckPending(maxAckPending)
                    .maxDeliver(-1)
                    .description("Sluice group " + group + ", partition " + partition + " of topic " + ts.topic())
                    .build());
            log.debug("Created durable consumer {} on stream {}", durable, ts.stream());
            return 0;
        }
        ConsumerConfiguration have = info.getConsumerConfiguration();
        if (have.getMaxAckPending() != maxAckPending || !have.getAckWait().equals(settings.ackWait)) {
            jsm.addOrUpdateConsumer(ts.stream(), ConsumerConfiguration.builder(have)
                    .maxAckPending(maxAckPending).ackWait(settings.ackWait).build());
            log.debug("Updated durable consumer {} on stream {}: maxAckPending {}, ackWait {}", durable, ts.stream(),
                    maxAckPending, settings.ackWait);
        }
        return info.getNumAckPending();
    }

    /** For tests and tools: the partition subjects a topic would get. */
    List<String> subjects(String topic) {
        return List.of(stream(topic).subjects());
    }
}
