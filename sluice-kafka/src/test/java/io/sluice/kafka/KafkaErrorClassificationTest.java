package io.sluice.kafka;

import io.sluice.PublishException;
import io.sluice.spi.TransientTransportException;
import io.sluice.spi.TransportProducer;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.NetworkException;
import org.apache.kafka.common.errors.NotEnoughReplicasException;
import org.apache.kafka.common.errors.NotLeaderOrFollowerException;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.errors.TimeoutException;
import org.junit.jupiter.api.Test;

import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Which publish failures the publisher retries (issue 9 defect 8, Kafka side): Kafka marks the ones that may pass
 * as {@code RetriableException}, however the futures wrap them. No broker needed: the producer does not connect
 * until it sends.
 */
class KafkaErrorClassificationTest {
    @Test
    void shouldTreatKafkasRetriableFailuresAsTransientHoweverTheyAreWrapped() {
        try (KafkaTransport transport = new KafkaTransport(KafkaSettings.of("127.0.0.1:9"))) {
            TransportProducer producer = transport.producer();
            for (Exception retriable : new Exception[] {new TimeoutException("expired"),
                    new NotEnoughReplicasException("1 of 3"), new NetworkException("disconnected"),
                    new NotLeaderOrFollowerException("moved")}) {
                assertThat(producer.isTransient(retriable)).as("%s", retriable).isTrue();
                assertThat(producer.isTransient(new CompletionException(new ExecutionException(retriable))))
                        .as("wrapped %s", retriable).isTrue();
                assertThat(producer.isTransient(new TransientTransportException("sent again", retriable))).isTrue();
            }
            for (Exception fatal : new Exception[] {new RecordTooLargeException("big"),
                    new AuthorizationException("denied"), new KafkaException("fenced"),
                    new PublishException("publisher.publishTimeout passed")}) {
                assertThat(producer.isTransient(fatal)).as("%s", fatal).isFalse();
                assertThat(producer.isTransient(new CompletionException(fatal))).as("wrapped %s", fatal).isFalse();
            }
        }
    }
}
