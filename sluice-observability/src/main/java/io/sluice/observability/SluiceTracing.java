package io.sluice.observability;

import io.opentelemetry.api.OpenTelemetry;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.Scope;
import io.opentelemetry.context.propagation.TextMapGetter;
import io.opentelemetry.context.propagation.TextMapPropagator;
import io.opentelemetry.context.propagation.TextMapSetter;
import io.sluice.ForwardingPublisher;
import io.sluice.Handler;
import io.sluice.Headers;
import io.sluice.Instrumentation;
import io.sluice.Message;
import io.sluice.Publisher;
import io.sluice.Receipt;
import io.sluice.RetryLaterException;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * OpenTelemetry tracing for a Sluice client: W3C trace context travels in message headers ({@code traceparent},
 * {@code tracestate}, through the configured propagator), and spans follow the messaging semantic conventions:
 *
 * <ul>
 *   <li>{@code send <topic>}, kind PRODUCER, from the publish call to the broker's confirmation, child of the
 *       caller's current span; its context is what the message carries;</li>
 *   <li>{@code process <topic>}, kind CONSUMER, one per handler attempt, child of the context the message carries,
 *       current while the handler runs (so its own spans and publishes join the trace); a failed attempt records
 *       the exception and ends with status ERROR; one that middleware deferred without calling the handler (an open
 *       circuit breaker) ends with a {@code deferred} event and no error.</li>
 * </ul>
 *
 * <p>Attributes: {@code messaging.system}, {@code messaging.operation.type} and {@code messaging.operation.name},
 * {@code messaging.destination.name}, {@code messaging.message.id}, {@code messaging.consumer.group.name},
 * {@code messaging.destination.partition.id} (from the receipt). Dead letters keep the original message's context:
 * they do not pass through here.
 *
 * <p>Thread-safe; spans start and end on the threads that publish, complete publishes and run handlers.
 */
public final class SluiceTracing implements Instrumentation {
    static final AttributeKey<String> SYSTEM = AttributeKey.stringKey("messaging.system");
    static final AttributeKey<String> OPERATION_TYPE = AttributeKey.stringKey("messaging.operation.type");
    static final AttributeKey<String> OPERATION_NAME = AttributeKey.stringKey("messaging.operation.name");
    static final AttributeKey<String> DESTINATION = AttributeKey.stringKey("messaging.destination.name");
    static final AttributeKey<String> PARTITION = AttributeKey.stringKey("messaging.destination.partition.id");
    static final AttributeKey<String> MESSAGE_ID = AttributeKey.stringKey("messaging.message.id");
    static final AttributeKey<String> GROUP = AttributeKey.stringKey("messaging.consumer.group.name");
    static final AttributeKey<String> DEFERRED_REASON = AttributeKey.stringKey("sluice.deferred.reason");

    private static final TextMapSetter<Message.Builder> SETTER = (builder, key, value) -> {
        if (builder != null) {
            builder.header(key, value);
        }
    };

    private static final TextMapGetter<Headers> GETTER = new TextMapGetter<>() {
        @Override
        public Iterable<String> keys(Headers headers) {
            List<String> keys = new ArrayList<>(headers.size());
            headers.forEach((k, v) -> keys.add(k));
            return keys;
        }

        @Override
        public String get(Headers headers, String key) {
            return headers == null ? null : headers.get(key);
        }
    };

    private final Tracer tracer;
    private final TextMapPropagator propagator;
    private final String system;

    private SluiceTracing(OpenTelemetry openTelemetry, String system) {
        this.tracer = openTelemetry.getTracer("io.sluice");
        this.propagator = openTelemetry.getPropagators().getTextMapPropagator();
        this.system = system;
    }

    /** Tracing through {@code openTelemetry}'s tracer and propagator, with {@code messaging.system} "sluice". */
    public static SluiceTracing of(OpenTelemetry openTelemetry) {
        return of(openTelemetry, "sluice");
    }

    /** As {@link #of(OpenTelemetry)}, naming the messaging system (e.g. "kafka", "nats"). */
    public static SluiceTracing of(OpenTelemetry openTelemetry, String messagingSystem) {
        return new SluiceTracing(openTelemetry, messagingSystem);
    }

    @Override
    public Publisher publisher(Publisher publisher) {
        return new ForwardingPublisher(publisher) {
            @Override
            public CompletableFuture<Receipt> publish(String topic, Message message) {
                if (topic == null || message == null) {
                    return publisher.publish(topic, message); // the publisher's own clear error
                }
                Message stamped = message.withDefaults(System.currentTimeMillis());
                Span span = tracer.spanBuilder("send " + topic).setSpanKind(SpanKind.PRODUCER)
                        .setParent(Context.current())
                        .setAttribute(SYSTEM, system).setAttribute(OPERATION_TYPE, "send")
                        .setAttribute(OPERATION_NAME, "send").setAttribute(DESTINATION, topic)
                        .setAttribute(MESSAGE_ID, stamped.id()).startSpan();
                Message.Builder carrier = stamped.toBuilder();
                propagator.inject(Context.current().with(span), carrier, SETTER);
                CompletableFuture<Receipt> f;
                try {
                    f = publisher.publish(topic, carrier.build());
                } catch (RuntimeException e) {
                    fail(span, e);
                    throw e;
                }
                f.whenComplete((receipt, error) -> {
                    if (error != null) {
                        fail(span, error);
                    } else {
                        span.setAttribute(PARTITION, Integer.toString(receipt.partition()));
                        span.end();
                    }
                });
                return f;
            }
        };
    }

    @Override
    public Handler handler(String topic, String group, Handler handler) {
        String name = "process " + topic;
        return m -> {
            Context parent = propagator.extract(Context.root(), m.headers(), GETTER);
            Span span = tracer.spanBuilder(name).setSpanKind(SpanKind.CONSUMER).setParent(parent)
                    .setAttribute(SYSTEM, system).setAttribute(OPERATION_TYPE, "process")
                    .setAttribute(OPERATION_NAME, "process").setAttribute(DESTINATION, topic)
                    .setAttribute(GROUP, group).setAttribute(MESSAGE_ID, m.id()).startSpan();
            try (Scope ignored = span.makeCurrent()) {
                handler.handle(m);
            } catch (RetryLaterException e) {
                if (e.countsAsAttempt()) {
                    fail(span, e);
                } else { // middleware (a circuit breaker) did not call the handler: not an error of this message
                    span.addEvent("deferred", Attributes.of(DEFERRED_REASON, String.valueOf(e.getMessage())));
                    span.end();
                }
                throw e;
            } catch (Exception | Error e) {
                fail(span, e);
                throw e;
            }
            span.end();
        };
    }

    private static void fail(Span span, Throwable error) {
        Throwable cause = error instanceof java.util.concurrent.CompletionException && error.getCause() != null
                ? error.getCause() : error;
        span.recordException(cause);
        span.setStatus(StatusCode.ERROR, cause.getClass().getSimpleName());
        span.end();
    }
}
