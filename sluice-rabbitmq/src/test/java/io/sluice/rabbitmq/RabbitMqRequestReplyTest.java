package io.sluice.rabbitmq;

import io.sluice.Message;
import io.sluice.Sluice;
import io.sluice.config.SluiceConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Request/reply with direct reply-to against a real broker: replies, queue groups, no responder, timeouts, errors. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class RabbitMqRequestReplyTest {
    private static Message echo(Message r) {
        return Message.builder().key(r.key()).payload("echo: " + r.payloadAsString()).headers(r.headers()).build();
    }

    @Test
    void shouldReplyShareRequestsInAQueueGroupAndFailWithoutResponderOnTimeoutOrHandlerError() throws Exception {
        String svc = "svc-" + Long.toHexString(System.nanoTime());
        try (Sluice sluice = Sluice.create(new RabbitMqTransport(RabbitMqTestServer.settings().build()),
                SluiceConfig.of("rabbitmq"))) {
            assertThat(sluice.transport().capabilities().requestReply()).isTrue();
            RabbitMqRequests requests = RabbitMqRequests.of(sluice);
            Map<String, Integer> perResponder = new ConcurrentHashMap<>();
            try (RabbitMqRequests.Responder a = requests.respond(svc + ".echo", "echoers", r -> {
                perResponder.merge("a", 1, Integer::sum);
                return echo(r);
            });
                 RabbitMqRequests.Responder b = requests.respond(svc + ".echo", "echoers", r -> {
                     perResponder.merge("b", 1, Integer::sum);
                     return echo(r);
                 })) {
                Message reply = requests.request(svc + ".echo", Message.builder().key("k").payload("hi")
                        .header("ü", "ß").build(), Duration.ofSeconds(5)).join();
                assertThat(reply.payloadAsString()).isEqualTo("echo: hi");
                assertThat(reply.key()).isEqualTo("k");
                assertThat(reply.headers().get("ü")).isEqualTo("ß");

                List<CompletableFuture<Message>> many = new ArrayList<>();
                for (int i = 0; i < 40; i++) {
                    many.add(requests.request(svc + ".echo", Message.of("k", "m" + i), Duration.ofSeconds(10)));
                }
                for (int i = 0; i < 40; i++) {
                    assertThat(many.get(i).join().payloadAsString()).isEqualTo("echo: m" + i);
                }
                assertThat(perResponder.values().stream().mapToInt(Integer::intValue).sum()).isEqualTo(41);
                assertThat(perResponder).as("both members of the queue group answered").containsKeys("a", "b");
            }

            assertThatThrownBy(() -> requests.request(svc + ".nobody", Message.of("k", "x"), Duration.ofSeconds(5))
                    .join()).isInstanceOf(CompletionException.class).cause()
                    .isInstanceOf(RabbitMqRequestException.class).hasMessageContaining("no responder");

            CountDownLatch release = new CountDownLatch(1);
            try (RabbitMqRequests.Responder slow = requests.respond(svc + ".slow", null, r -> {
                release.await(30, TimeUnit.SECONDS);
                return r;
            });
                 RabbitMqRequests.Responder failing = requests.respond(svc + ".fail", null, r -> {
                     throw new IllegalStateException("out of stock");
                 })) {
                assertThatThrownBy(() -> requests.request(svc + ".slow", Message.of("k", "x"),
                        Duration.ofMillis(300)).join()).cause().isInstanceOf(RabbitMqRequestException.class)
                        .hasMessageContaining("within 300 ms");
                release.countDown();
                assertThatThrownBy(() -> requests.request(svc + ".fail", Message.of("k", "x"),
                        Duration.ofSeconds(5)).join()).cause().isInstanceOf(RabbitMqRequestException.class)
                        .hasMessageContaining("out of stock");
            }
        }
    }
}
