package io.sluice.kafka;

import io.sluice.Message;
import io.sluice.PublishException;
import io.sluice.Receipt;
import io.sluice.Sluice;
import io.sluice.brokers.kafka.KafkaBroker;
import io.sluice.config.PublisherOptions;
import io.sluice.config.SluiceConfig;
import org.apache.kafka.clients.producer.ProducerInterceptor;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * The first publish to a topic (issue 9 defect 6): the producer must fetch the topic's metadata first, which Kafka does
 * inside {@code send} in a monitor (pinning a virtual thread's carrier on JDK 21) for up to {@code max.block.ms}. It
 * must neither block the caller nor run on the caller's (virtual) thread, and it is bounded by the publish timeout.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class KafkaFirstPublishTest {
    private static final Duration WAIT = Duration.ofSeconds(60);

    /** Per topic, for each {@code KafkaProducer.send} of it, whether the calling thread was virtual. */
    static final Map<String, Queue<Boolean>> SENDS_ON_VIRTUAL = new ConcurrentHashMap<>();

    /** Sees every {@code KafkaProducer.send}, on the thread that calls it (before the producer waits for metadata). */
    public static final class ThreadRecorder implements ProducerInterceptor<byte[], byte[]> {
        @Override
        public ProducerRecord<byte[], byte[]> onSend(ProducerRecord<byte[], byte[]> record) {
            SENDS_ON_VIRTUAL.computeIfAbsent(record.topic(), t -> new ConcurrentLinkedQueue<>())
                    .add(Thread.currentThread().isVirtual());
            return record;
        }

        @Override
        public void onAcknowledgement(RecordMetadata metadata, Exception exception) {
        }

        @Override
        public void close() {
        }

        @Override
        public void configure(Map<String, ?> configs) {
        }
    }

    /** What a virtual thread saw of its publish: whether the future had settled when {@code publish} returned. */
    private record Published(CompletableFuture<Receipt> future, boolean settledOnReturn) {
    }

    private static Published publishFromVirtualThread(Sluice sluice, String topic, int count) throws Exception {
        CompletableFuture<Published> result = new CompletableFuture<>();
        Thread.ofVirtual().start(() -> {
            try {
                List<CompletableFuture<Receipt>> all = new ArrayList<>();
                boolean settled = false;
                for (int i = 0; i < count; i++) {
                    CompletableFuture<Receipt> f = sluice.publisher().publish(topic, Message.of("k", "m" + i));
                    settled |= f.isDone();
                    all.add(f);
                }
                result.complete(new Published(CompletableFuture.allOf(all.toArray(new CompletableFuture<?>[0]))
                        .thenCompose(v -> all.get(all.size() - 1)), settled));
            } catch (Throwable t) {
                result.completeExceptionally(t);
            }
        });
        return result.get(WAIT.toSeconds(), TimeUnit.SECONDS);
    }

    @Test
    void shouldSendTheFirstPublishesToANewTopicOffTheCallersVirtualThreadInOrder() throws Exception {
        String topic = "first-publish-" + Long.toHexString(System.nanoTime());
        KafkaSettings settings = KafkaSettings.of(Map.of("bootstrapServers", KafkaBroker.shared().bootstrapServers(),
                "producerProperties", Map.of("interceptor.classes", ThreadRecorder.class.getName())));
        try (Sluice sluice = Sluice.create(new KafkaTransport(settings), SluiceConfig.of("kafka"))) {
            Published published = publishFromVirtualThread(sluice, topic, 20); // the topic is created by the publish
            Receipt last = published.future().get(WAIT.toSeconds(), TimeUnit.SECONDS);
            assertThat(last.offset()).as("offset of the 20th message of one key").isEqualTo(19);
            // Now the topic is ready: later publishes go straight to the producer from the caller's thread.
            Published later = publishFromVirtualThread(sluice, topic, 1);
            assertThat(later.future().get(WAIT.toSeconds(), TimeUnit.SECONDS).offset()).isEqualTo(20);
        }
        List<Boolean> onVirtual = new ArrayList<>(SENDS_ON_VIRTUAL.get(topic));
        assertThat(onVirtual).as("for each send, whether it ran on the publishing virtual thread").hasSize(21);
        assertThat(onVirtual.subList(0, 20)).as("sends made before the topic's metadata was known")
                .containsOnly(false);
    }

    @Test
    void shouldNotFailTheFirstPublishToATopicWhenThePublishTimeoutIsZero() throws Exception {
        String topic = "first-publish-zero-" + Long.toHexString(System.nanoTime());
        SluiceConfig config = SluiceConfig.of("kafka").withPublisher(PublisherOptions.builder()
                .publishTimeout(Duration.ZERO).build());
        try (Sluice sluice = Sluice.create(new KafkaTransport(KafkaSettings.of(KafkaBroker.shared().bootstrapServers())),
                config)) {
            Published published = publishFromVirtualThread(sluice, topic, 3);
            assertThat(published.future().get(WAIT.toSeconds(), TimeUnit.SECONDS).offset()).isEqualTo(2);
        }
    }

    @Test
    void shouldFailAPublishWhoseTopicMetadataNeverComesWithinThePublishTimeoutWithoutBlockingTheCaller()
            throws Exception {
        int closedPort;
        try (ServerSocket s = new ServerSocket(0)) {
            closedPort = s.getLocalPort(); // nothing listens here once the socket is closed
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        // Kafka alone would block the caller for max.block.ms (3 s here), and then report a transient timeout that
        // the publisher retries; the publish timeout (8 s) bounds the whole wait instead, off the caller's thread.
        KafkaSettings settings = KafkaSettings.of(Map.of("bootstrapServers", "127.0.0.1:" + closedPort,
                "producerProperties", Map.of("max.block.ms", "3000")));
        SluiceConfig config = SluiceConfig.of("kafka").withPublisher(PublisherOptions.builder()
                .publishTimeout(Duration.ofSeconds(8)).build());
        String topic = "no-broker-" + Long.toHexString(System.nanoTime());
        try (Sluice sluice = Sluice.create(new KafkaTransport(settings), config)) {
            Published published = publishFromVirtualThread(sluice, topic, 3);
            assertThat(published.settledOnReturn()).as("a publish settled before publish() returned").isFalse();
            await().atMost(WAIT).until(() -> published.future().isDone());
            assertThatThrownBy(() -> published.future().get())
                    .isInstanceOf(ExecutionException.class)
                    .cause().isInstanceOf(PublishException.class)
                    .hasMessageContaining("publisher.publishTimeout=8s")
                    .hasMessageContaining("127.0.0.1:" + closedPort)
                    .hasMessageContaining("not sent");
        }
    }
}
