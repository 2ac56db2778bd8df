package io.sluice.rabbitmq;

import io.sluice.Message;
import io.sluice.Receipt;
import io.sluice.RetryLaterException;
import io.sluice.Sluice;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.RetryPolicy;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Runs the examples of docs/rabbitmq.md against the module's real broker: the YAML is read from the page (with the
 * broker's address filled in), the Java is the page's with assertions added. If this class changes, change the page.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class RabbitMqDocExamplesTest {
    private static final Duration WAIT = Duration.ofSeconds(60);

    @TempDir
    Path dir;

    /** The {@code n}-th yaml block of docs/rabbitmq.md, written as sluice.yaml for the test broker. */
    private Path sluiceYamlFromPage(int n) throws IOException {
        Path page = Path.of("..", "docs", "rabbitmq.md");
        Matcher m = Pattern.compile("```yaml\n(.*?)```", Pattern.DOTALL).matcher(Files.readString(page));
        for (int i = 0; i <= n; i++) {
            assertThat(m.find()).as("yaml block %s of %s", i, page).isTrue();
        }
        String yaml = m.group(1).replace("amqp://guest:guest@127.0.0.1:5672/", RabbitMqTestServer.get().uri());
        Path file = dir.resolve("sluice.yaml");
        Files.writeString(file, yaml);
        return file;
    }

    @Test
    void quickStart() throws Exception {
        List<String> billed = new CopyOnWriteArrayList<>();
        List<String> shipped = new CopyOnWriteArrayList<>();
        try (Sluice sluice = Sluice.fromYaml(sluiceYamlFromPage(0))) {
            String orders = "orders-" + Long.toHexString(System.nanoTime());
            sluice.subscribe(orders, "billing", message -> billed.add(message.key() + " " + message.payloadAsString()));
            sluice.subscribe(orders, "shipping", message -> shipped.add(message.key()));
            Receipt r = sluice.publisher().publish(orders, Message.of("customer-42", "{\"total\": 12}")).join();
            assertThat(r.partition()).isBetween(0, 3);
            assertThat(r.offset()).isPositive();
            await().atMost(WAIT).until(() -> billed.size() == 1 && shipped.size() == 1);
            assertThat(billed).containsExactly("customer-42 {\"total\": 12}");
            assertThat(shipped).containsExactly("customer-42");
        }
    }

    @Test
    void requestReply() throws Exception {
        try (Sluice sluice = Sluice.fromYaml(sluiceYamlFromPage(0))) {
            RabbitMqRequests requests = RabbitMqRequests.of(sluice);
            try (RabbitMqRequests.Responder echo = requests.respond("svc.echo", "echoers",
                    request -> Message.of(request.key(), "echo: " + request.payloadAsString()))) {
                Message reply = requests.request("svc.echo", Message.of("k", "hi"), Duration.ofSeconds(2)).join();
                assertThat(reply.payloadAsString()).isEqualTo("echo: hi");
            }
        }
    }

    @Test
    void nativeDelay() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        List<String> billedAfterRetry = new CopyOnWriteArrayList<>();
        try (Sluice sluice = Sluice.fromYaml(sluiceYamlFromPage(0))) {
            String orders = "orders-" + Long.toHexString(System.nanoTime());
            ConsumerOptions options = ConsumerOptions.builder().retry(RetryPolicy.builder().maxAttempts(5)
                    .nativeDelayThreshold(Duration.ofSeconds(1)).build()).build();
            sluice.subscribe(orders, "billing", m -> {
                if (calls.incrementAndGet() == 1) { // paymentServiceUp() is false the first time
                    throw new RetryLaterException(Duration.ofSeconds(1), "payment service down"); // the 1s tier
                }
                billedAfterRetry.add(m.payloadAsString());
            }, options);
            sluice.publisher().publish(orders, Message.of("customer-42", "{\"total\": 12}")).join();
            await().atMost(WAIT).until(() -> billedAfterRetry.size() == 1);
            assertThat(calls).hasValue(2);
        }
    }
}
