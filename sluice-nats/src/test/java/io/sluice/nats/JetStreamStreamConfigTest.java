package io.sluice.nats;

import io.nats.client.api.RetentionPolicy;
import io.nats.client.api.StorageType;
import io.nats.client.api.StreamConfiguration;
import io.sluice.Message;
import io.sluice.Receipt;
import io.sluice.Sluice;
import io.sluice.SluiceException;
import io.sluice.config.ConfigSection;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.SluiceConfig;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The stream of a topic comes from the {@code nats.stream} settings: created with them, its limits brought up to date
 * when they change, and refused with a clear error when what cannot change (partitions, storage, retention) differs.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class JetStreamStreamConfigTest {
    private String topic;

    @BeforeEach
    void name(TestInfo info) {
        topic = "cfg-" + info.getTestMethod().orElseThrow().getName() + "-" + Long.toHexString(System.nanoTime());
    }

    /** A transport configured as {@code sluice.yaml} would, with these {@code nats.stream} keys. */
    private static NatsTransport transport(Map<String, Object> stream) {
        Map<String, Object> nats = new HashMap<>();
        nats.put("servers", List.of(NatsTestServer.get().url()));
        nats.put("stream", stream);
        return new NatsTransport(NatsSettings.from(new ConfigSection("nats", nats)));
    }

    private static Message message(String key) {
        return Message.of(key, "payload").withDefaults(System.currentTimeMillis());
    }

    private StreamConfiguration streamConfig(NatsTransport t) throws Exception {
        return t.management().getStreamInfo(Names.stream(topic)).getConfiguration();
    }

    @Test
    void shouldCreateTheStreamWithConfiguredSubjectsStorageRetentionAndLimits() throws Exception {
        try (NatsTransport t = transport(Map.of("partitions", 4, "storage", "file", "retention", "interest",
                "maxAge", "1h", "maxBytes", "8MiB", "duplicateWindow", "30s"))) {
            Receipt r = t.producer().send(topic, message("k")).join();
            assertThat(r.partition()).isBetween(0, 3);

            StreamConfiguration c = streamConfig(t);
            assertThat(c.getSubjects()).containsExactlyInAnyOrder(topic + ".0", topic + ".1", topic + ".2",
                    topic + ".3");
            assertThat(c.getStorageType()).isEqualTo(StorageType.File);
            assertThat(c.getRetentionPolicy()).isEqualTo(RetentionPolicy.Interest);
            assertThat(c.getMaxAge()).isEqualTo(Duration.ofHours(1));
            assertThat(c.getMaxBytes()).isEqualTo(8L * 1024 * 1024);
            assertThat(c.getDuplicateWindow()).isEqualTo(Duration.ofSeconds(30));
        }
    }

    @Test
    void shouldBringLimitsOfAnExistingStreamUpToTheConfiguredValuesKeepingItsMessages() throws Exception {
        try (NatsTransport first = transport(Map.of())) {
            first.producer().send(topic, message("a")).join();
            StreamConfiguration c = streamConfig(first);
            assertThat(c.getMaxAge()).isEqualTo(Duration.ZERO);
            assertThat(c.getMaxBytes()).isEqualTo(-1);
            assertThat(c.getDuplicateWindow()).isEqualTo(Duration.ofMinutes(2));
        }
        try (NatsTransport second = transport(Map.of("maxAge", "2h", "maxBytes", "16MiB",
                "duplicateWindow", "1m"))) {
            second.producer().send(topic, message("b")).join();
            StreamConfiguration c = streamConfig(second);
            assertThat(c.getMaxAge()).isEqualTo(Duration.ofHours(2));
            assertThat(c.getMaxBytes()).isEqualTo(16L * 1024 * 1024);
            assertThat(c.getDuplicateWindow()).isEqualTo(Duration.ofMinutes(1));
            assertThat(second.management().getStreamInfo(Names.stream(topic)).getStreamState().getMsgCount())
                    .as("messages stored before the update").isEqualTo(2);
        }
    }

    @Test
    void shouldRefuseAnExistingStreamWithOtherPartitionsNamingBothAndLeaveItUnchanged() throws Exception {
        try (NatsTransport first = transport(Map.of("partitions", 3))) {
            first.producer().send(topic, message("a")).join();
        }
        String stream = Names.stream(topic);
        try (NatsTransport other = transport(Map.of("partitions", 5));
             Sluice sluice = Sluice.create(other, SluiceConfig.of("nats"))) {
            assertThatThrownBy(() -> other.producer().send(topic, message("b")).join())
                    .isInstanceOf(CompletionException.class)
                    .cause().isInstanceOf(SluiceException.class)
                    .hasMessageStartingWith("JetStream stream " + stream + " of topic " + topic + " has subjects [")
                    .hasMessageContaining("but nats.stream.partitions=5 expects [" + topic + ".0, " + topic + ".1, "
                            + topic + ".2, " + topic + ".3, " + topic + ".4]")
                    .hasMessageContaining("use the partition count the topic was created with");
            assertThatThrownBy(() -> sluice.subscribe(topic, "g", m -> { }, ConsumerOptions.defaults()))
                    .isInstanceOf(SluiceException.class)
                    .hasMessageContaining("but nats.stream.partitions=5 expects");
            assertThat(streamConfig(other).getSubjects()).hasSize(3);
        }
    }

    @Test
    void shouldRefuseAnExistingStreamWithOtherStorageOrRetentionSayingTheyCannotChange() throws Exception {
        try (NatsTransport first = transport(Map.of())) {
            first.producer().send(topic, message("a")).join();
        }
        String stream = Names.stream(topic);
        try (NatsTransport memory = transport(Map.of("storage", "memory"))) {
            assertThatThrownBy(() -> memory.producer().send(topic, message("b")).join())
                    .cause().isInstanceOf(SluiceException.class)
                    .hasMessage("JetStream stream " + stream + " of topic " + topic + " has file storage and limits "
                            + "retention, but nats.stream asks for memory storage and limits retention; storage and "
                            + "retention cannot change on an existing stream");
        }
        try (NatsTransport workQueue = transport(Map.of("retention", "workqueue"))) {
            assertThatThrownBy(() -> workQueue.producer().send(topic, message("b")).join())
                    .cause().isInstanceOf(SluiceException.class)
                    .hasMessageContaining("has file storage and limits retention, but nats.stream asks for file "
                            + "storage and workqueue retention");
            StreamConfiguration c = streamConfig(workQueue);
            assertThat(c.getStorageType()).isEqualTo(StorageType.File);
            assertThat(c.getRetentionPolicy()).isEqualTo(RetentionPolicy.Limits);
        }
    }
}
