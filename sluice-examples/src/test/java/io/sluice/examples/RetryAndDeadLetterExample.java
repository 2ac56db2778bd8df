package io.sluice.examples;

import io.sluice.DeadLetters;
import io.sluice.Message;
import io.sluice.Sluice;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.RetryPolicy;
import io.sluice.config.SluiceConfig;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** A flaky dependency is retried with backoff; a message that never succeeds ends on the dead-letter topic. */
class RetryAndDeadLetterExample {

    @Test
    void retryTransientFailuresAndDeadLetterTheRest() {
        ConsumerOptions options = ConsumerOptions.builder()
                .retry(RetryPolicy.builder()
                        .initialDelay(Duration.ofMillis(20))
                        .maxDelay(Duration.ofMillis(200))
                        .maxAttempts(4)
                        .nonRetryable(IllegalArgumentException.class)
                        .build())
                .build();
        AtomicInteger gatewayCalls = new AtomicInteger();
        List<Message> deadLetters = new CopyOnWriteArrayList<>();
        try (Sluice sluice = Sluice.create(SluiceConfig.of("memory"))) {
            sluice.subscribe("payments.dlq", "ops", deadLetters::add, ConsumerOptions.defaults());
            sluice.subscribe("payments", "gateway", message -> {
                String body = message.payloadAsString();
                if (body.equals("flaky") && gatewayCalls.incrementAndGet() < 3) {
                    throw new java.util.concurrent.TimeoutException("gateway timed out"); // retried
                }
                if (body.equals("malformed")) {
                    throw new IllegalArgumentException("amount missing"); // non-retryable: dead letter at once
                }
                if (body.equals("declined")) {
                    throw new IllegalStateException("card declined"); // retried, then dead-lettered
                }
            }, options);

            for (String body : List.of("flaky", "malformed", "declined")) {
                sluice.publisher().publish("payments", Message.of("card-" + body, body)).join();
            }

            await().until(() -> deadLetters.size() == 2);
            for (Message letter : deadLetters) {
                System.out.printf("%s: %s after %s attempt(s): %s%n", letter.payloadAsString(),
                        letter.header(DeadLetters.REASON), letter.header(DeadLetters.ATTEMPTS),
                        letter.header(DeadLetters.ERROR_MESSAGE));
            }
            assertThat(deadLetters).extracting(m -> m.header(DeadLetters.REASON)).containsExactlyInAnyOrder(
                    DeadLetters.REASON_NON_RETRYABLE, DeadLetters.REASON_RETRIES_EXHAUSTED);
            assertThat(gatewayCalls.get()).isEqualTo(3);
        }
    }
}
