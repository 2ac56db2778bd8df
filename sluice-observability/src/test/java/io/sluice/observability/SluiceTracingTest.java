package io.sluice.observability;

import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.propagation.W3CTraceContextPropagator;
import io.opentelemetry.context.Scope;
import io.opentelemetry.context.propagation.ContextPropagators;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import io.sluice.DeadLetterException;
import io.sluice.Message;
import io.sluice.Sluice;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.RetryPolicy;
import io.sluice.config.SluiceConfig;
import io.sluice.memory.MemoryTransport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

class SluiceTracingTest {
    private final InMemorySpanExporter spans = InMemorySpanExporter.create();
    private final OpenTelemetrySdk otel = OpenTelemetrySdk.builder()
            .setTracerProvider(SdkTracerProvider.builder().addSpanProcessor(SimpleSpanProcessor.create(spans)).build())
            .setPropagators(ContextPropagators.create(W3CTraceContextPropagator.getInstance()))
            .build();
    private final Sluice sluice = Sluice.builder().config(SluiceConfig.of("memory"))
            .transport(new MemoryTransport(1, 1 << 20)).instrumentation(SluiceTracing.of(otel, "memory")).build();

    @AfterEach
    void close() {
        sluice.close();
        otel.close();
    }

    @Test
    void shouldCarryTheTraceFromPublisherToHandlerThroughHeaders() {
        List<Message> received = new CopyOnWriteArrayList<>();
        List<String> traceInHandler = new CopyOnWriteArrayList<>();
        sluice.subscribe("orders", "billing", m -> {
            received.add(m);
            traceInHandler.add(Span.current().getSpanContext().getTraceId());
        }, ConsumerOptions.defaults());

        Span request = otel.getTracer("test").spanBuilder("http request").startSpan();
        String messageId;
        try (Scope ignored = request.makeCurrent()) {
            messageId = sluice.publisher().publish("orders", Message.of("k", "v")).join().messageId();
        } finally {
            request.end();
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> spans.getFinishedSpanItems().size() == 3);

        SpanData send = span("send orders");
        SpanData process = span("process orders");
        String traceId = request.getSpanContext().getTraceId();
        assertThat(send.getKind()).isEqualTo(SpanKind.PRODUCER);
        assertThat(send.getTraceId()).isEqualTo(traceId);
        assertThat(send.getParentSpanId()).isEqualTo(request.getSpanContext().getSpanId());
        assertThat(send.getAttributes().get(SluiceTracing.MESSAGE_ID)).isEqualTo(messageId);
        assertThat(send.getAttributes().get(SluiceTracing.PARTITION)).isEqualTo("0");
        assertThat(send.getAttributes().get(SluiceTracing.SYSTEM)).isEqualTo("memory");

        assertThat(process.getKind()).isEqualTo(SpanKind.CONSUMER);
        assertThat(process.getTraceId()).isEqualTo(traceId);
        assertThat(process.getParentSpanId()).isEqualTo(send.getSpanId());
        assertThat(process.getAttributes().get(SluiceTracing.GROUP)).isEqualTo("billing");
        assertThat(process.getAttributes().get(SluiceTracing.DESTINATION)).isEqualTo("orders");
        assertThat(traceInHandler).containsExactly(traceId);
        assertThat(received.get(0).headers().get("traceparent"))
                .matches("00-" + traceId + "-" + send.getSpanId() + "-0[13]"); // sampled; 03 adds W3C's random flag
    }

    @Test
    void shouldMarkFailedAttemptsAndKeepTheOriginalContextOnDeadLetters() {
        AtomicInteger attempts = new AtomicInteger();
        List<Message> letters = new CopyOnWriteArrayList<>();
        sluice.subscribe("orders.dlq", "reader", letters::add, ConsumerOptions.defaults());
        sluice.subscribe("orders", "billing", m -> {
            if (attempts.incrementAndGet() < 3) {
                throw new IllegalStateException("downstream timeout");
            }
            throw new DeadLetterException("give up");
        }, ConsumerOptions.builder().retry(RetryPolicy.builder().initialDelay(Duration.ofMillis(5))
                .maxDelay(Duration.ofMillis(10)).maxAttempts(5).build()).build());

        sluice.publisher().publish("orders", Message.of("k", "v")).join();
        await().atMost(Duration.ofSeconds(10)).until(() -> letters.size() == 1);
        await().atMost(Duration.ofSeconds(10)).until(() -> spans.getFinishedSpanItems().stream()
                .filter(s -> s.getName().equals("process orders")).count() == 3);

        SpanData send = span("send orders");
        List<SpanData> processing = spans.getFinishedSpanItems().stream()
                .filter(s -> s.getName().equals("process orders")).toList();
        assertThat(processing).allSatisfy(s -> {
            assertThat(s.getStatus().getStatusCode()).isEqualTo(StatusCode.ERROR);
            assertThat(s.getParentSpanId()).isEqualTo(send.getSpanId());
            assertThat(s.getEvents()).anySatisfy(e -> assertThat(e.getName()).isEqualTo("exception"));
        });
        // The dead letter carries the original context, and its reader's span continues the same trace.
        assertThat(letters.get(0).headers().get("traceparent")).contains(send.getTraceId() + "-" + send.getSpanId());
        await().atMost(Duration.ofSeconds(10)).until(() -> spans.getFinishedSpanItems().stream()
                .anyMatch(s -> s.getName().equals("process orders.dlq")));
        assertThat(span("process orders.dlq").getParentSpanId()).isEqualTo(send.getSpanId());
    }

    @Test
    void shouldNotMarkADeferredAttemptAsAnError() {
        java.util.concurrent.atomic.AtomicBoolean refused = new java.util.concurrent.atomic.AtomicBoolean();
        AtomicInteger handled = new AtomicInteger();
        sluice.subscribe("orders", "billing", m -> handled.incrementAndGet(),
                ConsumerOptions.builder().middleware(next -> m -> {
                    if (refused.compareAndSet(false, true)) {
                        throw io.sluice.RetryLaterException.notAttempted(Duration.ofMillis(5), "breaker open");
                    }
                    next.handle(m);
                }).build());
        sluice.publisher().publish("orders", Message.of("k", "v")).join();
        await().atMost(Duration.ofSeconds(10)).until(() -> handled.get() == 1 && spans.getFinishedSpanItems().stream()
                .filter(s -> s.getName().equals("process orders")).count() == 2);
        List<SpanData> processing = spans.getFinishedSpanItems().stream()
                .filter(s -> s.getName().equals("process orders")).toList();
        assertThat(processing).allSatisfy(s -> assertThat(s.getStatus().getStatusCode()).isNotEqualTo(StatusCode.ERROR));
        assertThat(processing).anySatisfy(s -> assertThat(s.getEvents()).anySatisfy(e ->
                assertThat(e.getName()).isEqualTo("deferred")));
    }

    private SpanData span(String name) {
        return spans.getFinishedSpanItems().stream().filter(s -> s.getName().equals(name)).findFirst().orElseThrow();
    }
}
