package io.sluice.cli;

import io.sluice.Message;
import io.sluice.Sluice;
import io.sluice.Subscription;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.SluiceConfig;
import io.sluice.memory.MemoryTransport;
import io.sluice.observability.SluiceMetrics;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

class MetricsEndpointTest {
    @Test
    void shouldServeSluiceMetersInPrometheusFormatOnLoopback() throws Exception {
        try (MetricsEndpoint endpoint = new MetricsEndpoint(0);
             SluiceMetrics meters = SluiceMetrics.of(endpoint.registry());
             Sluice sluice = Sluice.builder().config(SluiceConfig.of("memory"))
                     .transport(new MemoryTransport(1, 1 << 20)).instrumentation(meters).build()) {
            Subscription sub = sluice.subscribe("orders", "billing", m -> { }, ConsumerOptions.defaults());
            sluice.publisher().publish("orders", Message.of("k", "v")).join();
            await().atMost(Duration.ofSeconds(10)).until(() -> sub.stats().handled() == 1);

            assertThat(endpoint.url()).matches("http://(127\\.0\\.0\\.1|\\[::1\\]):\\d+/metrics");
            HttpResponse<String> scrape = HttpClient.newHttpClient().send(
                    HttpRequest.newBuilder(URI.create(endpoint.url())).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(scrape.statusCode()).isEqualTo(200);
            assertThat(scrape.body())
                    .contains("sluice_publish_seconds_count{result=\"ok\",topic=\"orders\"} 1")
                    .containsPattern("sluice_consume_handled_total\\{group=\"billing\",subscription=\"\\d+\",topic=\"orders\"\\} 1")
                    .contains("sluice_handler_seconds_count{group=\"billing\",result=\"success\",topic=\"orders\"} 1");
        }
    }
}
