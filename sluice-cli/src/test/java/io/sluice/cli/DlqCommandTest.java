package io.sluice.cli;

import io.sluice.Message;
import io.sluice.Sluice;
import io.sluice.Subscription;
import io.sluice.config.SluiceConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

class DlqCommandTest {
    @TempDir
    Path data;

    private static String run(String... args) {
        return CliRun.run(args);
    }

    @Test
    void shouldShowDeadLettersWithTheirCauseThenReplayEachOnce() {
        run("demo", "--data", data.toString(), "--messages", "400", "--keys", "20", "--poison", "3");

        String shown = run("dlq", "show", "demo.orders", "--data", data.toString());
        assertThat(shown).contains("3 dead letter(s) on demo.orders.dlq")
                .containsPattern("key=customer-\\d+  from demo\\.orders/\\d+@\\d+  retries-exhausted after 4 attempt\\(s\\), "
                        + "first failure 20\\d\\d-")
                .contains("java.lang.IllegalStateException: payment declined for order").contains("card blocked")
                .containsPattern("payload \\(\\d+ bytes\\): \\{\"order\":\\d+");
        // show reads in a group of its own: showing again shows the same letters
        assertThat(run("dlq", "show", "demo.orders", "--data", data.toString()))
                .contains("3 dead letter(s) on demo.orders.dlq");

        String replayed = run("dlq", "replay", "demo.orders", "--data", data.toString(), "--to", "orders.retry");
        assertThat(replayed).contains("3 dead letter(s) replayed from demo.orders.dlq");
        assertThat(run("dlq", "show", "demo.orders", "--data", data.toString()))
                .as("replaying consumed nothing show reads").contains("3 dead letter(s) on demo.orders.dlq");
        assertThat(run("dlq", "replay", "demo.orders", "--data", data.toString(), "--to", "orders.retry"))
                .as("the replay group remembers what it replayed").contains("0 dead letter(s) replayed");

        SluiceConfig config = SluiceConfig.of("log").withTransport("log", Map.of("dir", data.toString()));
        List<Message> again = new CopyOnWriteArrayList<>();
        try (Sluice sluice = Sluice.create(config)) {
            Subscription sub = sluice.subscribe("orders.retry", "check", again::add);
            await().atMost(Duration.ofSeconds(20)).until(() -> again.size() >= 3);
            sub.close();
        }
        assertThat(again).hasSize(3).allSatisfy(m -> {
            assertThat(m.headers().get("sluice-replay-of")).isNotBlank().isNotEqualTo(m.id());
            assertThat(m.headers().get("sluice-replay-original-time")).isNotBlank();
            m.headers().forEach((k, v) -> assertThat(k).doesNotStartWith("sluice-dlq-"));
        });
    }
}
