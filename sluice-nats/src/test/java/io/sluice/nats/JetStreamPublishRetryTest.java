package io.sluice.nats;

import io.nats.client.api.StreamConfiguration;
import io.sluice.Message;
import io.sluice.Receipt;
import io.sluice.Sluice;
import io.sluice.config.SluiceConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Issue 9, defect 8: JetStream answering "503 No Responders" (no stream takes the subject, as while a server restarts)
 * is a transient failure, and a publish whose stream comes back within {@code nats.publish.ackTimeout} succeeds, stored
 * once.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class JetStreamPublishRetryTest {

    /** jnats wraps the 503 as {@code RuntimeException(IOException("Error Publishing: ..."))} inside the future. */
    @Test
    void shouldClassifyNoRespondersWrappedInARuntimeExceptionAsTransient() {
        Message m = Message.of("k", "v").withDefaults(1);
        RuntimeException wrapped = new RuntimeException(new IOException("Error Publishing: 503 No Responders Available"));
        RuntimeException classified = JetStreamProducer.classify(
                new java.util.concurrent.CompletionException(wrapped), "orders", m);
        assertThat(classified).isInstanceOf(io.sluice.spi.TransientTransportException.class)
                .hasMessageStartingWith("publish of message " + m.id() + " to topic orders failed while NATS was "
                        + "unavailable").hasMessageContaining("503 No Responders");
    }

    @Test
    void shouldPublishOnceWhenTheStreamAnswersAgainWithinTheAckTimeout() throws Exception {
        String url = NatsTestServer.get().url();
        String topic = "noresponders-" + Long.toHexString(System.nanoTime());
        try (NatsTransport t = new NatsTransport(NatsTestServer.settings(url).publish(64, Duration.ofSeconds(10))
                .build());
             Sluice client = Sluice.create(t, SluiceConfig.of("nats"))) {
            client.publisher().publish(topic, Message.of("k", "creates the stream")).join();
            String stream = Names.stream(topic);
            StreamConfiguration config = t.management().getStreamInfo(stream).getConfiguration();
            t.management().deleteStream(stream); // nothing answers on the topic's subjects now: 503 No Responders

            CompletableFuture<Receipt> sent = client.publisher().publish(topic,
                    Message.builder().id("while-away").key("k").payload("v").build());
            // The stream comes back only once an attempt met no stream and was scheduled again.
            JetStreamProducer producer = (JetStreamProducer) t.producer();
            await().atMost(Duration.ofSeconds(10)).until(() -> producer.resends() >= 1);
            assertThat(sent).as("still retrying, not failed").isNotDone();
            t.management().addStream(config);

            Receipt receipt = sent.get(30, TimeUnit.SECONDS);
            assertThat(receipt.messageId()).isEqualTo("while-away");
            assertThat(t.management().getStreamInfo(stream).getStreamState().getMsgCount())
                    .as("stored once").isEqualTo(1);
        }
    }
}
