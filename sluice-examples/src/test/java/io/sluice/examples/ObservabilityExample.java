package io.sluice.examples;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.propagation.W3CTraceContextPropagator;
import io.opentelemetry.context.Scope;
import io.opentelemetry.context.propagation.ContextPropagators;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import io.sluice.Message;
import io.sluice.Sluice;
import io.sluice.Subscription;
import io.sluice.config.SluiceConfig;
import io.sluice.observability.SluiceMetrics;
import io.sluice.observability.SluiceTracing;
import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** Metrics (Micrometer) and tracing (OpenTelemetry) on any transport, through the client's builder. */
class ObservabilityExample {

    @Test
    void metersAndTraces() {
        // In an application: your Prometheus or OTLP registry, and the OpenTelemetry instance of your agent or SDK.
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        InMemorySpanExporter exported = InMemorySpanExporter.create();
        OpenTelemetrySdk otel = OpenTelemetrySdk.builder()
                .setTracerProvider(SdkTracerProvider.builder()
                        .addSpanProcessor(SimpleSpanProcessor.create(exported)).build())
                .setPropagators(ContextPropagators.create(W3CTraceContextPropagator.getInstance()))
                .build();

        try (SluiceMetrics metrics = SluiceMetrics.of(registry);
             Sluice sluice = Sluice.builder()
                     .config(SluiceConfig.of("memory"))
                     .instrumentation(metrics)
                     .instrumentation(SluiceTracing.of(otel))
                     .build()) {
            Subscription sub = sluice.subscribe("payments", "ledger", message -> {
                // Runs inside the "process payments" span: spans and publishes made here join the same trace.
                Span.current().addEvent("booked");
            });

            Span checkout = otel.getTracer("shop").spanBuilder("checkout").startSpan();
            try (Scope ignored = checkout.makeCurrent()) {
                sluice.publisher().publish("payments", Message.of("order-7", "{\"cents\": 1299}")).join();
            } finally {
                checkout.end();
            }
            await().atMost(Duration.ofSeconds(10)).until(() -> sub.stats().handled() == 1
                    && exported.getFinishedSpanItems().size() == 3);

            assertThat(registry.get("sluice.publish").tags("topic", "payments", "result", "ok").timer().count()).isEqualTo(1);
            assertThat(registry.get("sluice.consume.handled").tag("group", "ledger").functionCounter().count())
                    .isEqualTo(1);
            assertThat(exported.getFinishedSpanItems()).extracting(s -> s.getName())
                    .containsExactlyInAnyOrder("checkout", "send payments", "process payments");
            assertThat(exported.getFinishedSpanItems()).extracting(s -> s.getTraceId()).containsOnly(
                    checkout.getSpanContext().getTraceId());
        } finally {
            otel.close();
        }
    }
}
