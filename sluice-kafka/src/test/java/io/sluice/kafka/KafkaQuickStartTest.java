package io.sluice.kafka;

import io.sluice.Message;
import io.sluice.Sluice;
import io.sluice.brokers.kafka.KafkaBroker;
import io.sluice.config.SluiceConfig;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** The quick start of docs/kafka.md, as written there: a broker from sluice-brokers and the transport by name. */
class KafkaQuickStartTest {
    @Test
    void shouldRunTheDocumentedQuickStart() {
        List<String> seen;
        try (KafkaBroker broker = KafkaBroker.start();
             Sluice sluice = Sluice.create(SluiceConfig.of("kafka")
                     .withTransport("kafka", Map.of("bootstrapServers", broker.bootstrapServers())))) {
            List<String> billed = new CopyOnWriteArrayList<>();
            sluice.subscribe("orders", "billing", m -> billed.add(m.key() + " " + m.payloadAsString()));
            sluice.publisher().publish("orders", Message.of("customer-42", "{\"total\": 12}")).join();
            await().atMost(Duration.ofSeconds(60)).until(() -> !billed.isEmpty());
            seen = billed;
        }
        assertThat(seen).containsExactly("customer-42 {\"total\": 12}");
    }
}
