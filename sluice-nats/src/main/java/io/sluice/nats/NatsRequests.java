package io.sluice.nats;

import io.nats.client.Connection;
import io.nats.client.Dispatcher;
import io.sluice.Message;
import io.sluice.Sluice;
import io.sluice.SluiceException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * Request/reply over NATS core subjects, in either mode of the NATS transport. A requester sends a message to a
 * subject and gets one reply or a failure within a timeout; a responder subscribes to a subject (wildcards allowed),
 * optionally in a queue group that shares the requests among its members.
 *
 * <pre>{@code
 * NatsRequests requests = NatsRequests.of(sluice);
 * try (NatsRequests.Responder echo = requests.respond("svc.echo", "echoers",
 *         request -> Message.of(request.key(), "echo: " + request.payloadAsString()))) {
 *     Message reply = requests.request("svc.echo", Message.of("k", "hi"), Duration.ofSeconds(2)).join();
 * }
 * }</pre>
 *
 * At most once, like core NATS: a request that reaches no responder, or whose reply is lost, fails with
 * {@link NatsRequestException}; nothing is retried for you. Thread-safe.
 */
public final class NatsRequests {
    private static final Logger log = LoggerFactory.getLogger(NatsRequests.class);

    private final Connection connection;

    NatsRequests(Connection connection) {
        this.connection = connection;
    }

    /** Request/reply on the NATS transport of {@code sluice}. */
    public static NatsRequests of(Sluice sluice) {
        if (!(sluice.transport() instanceof NatsTransport nats)) {
            throw new IllegalArgumentException("request/reply needs transport: nats, but this client uses "
                    + sluice.transport().name());
        }
        return nats.requests();
    }

    /**
     * Sends {@code request} to {@code subject} and waits (asynchronously) for one reply.
     *
     * @return a future completed with the reply, or failed with {@link NatsRequestException} when no responder
     *         listens, the reply does not come within {@code timeout}, or the responder's handler failed
     */
    public CompletableFuture<Message> request(String subject, Message request, Duration timeout) {
        Objects.requireNonNull(request, "request");
        Message m = request.withDefaults(System.currentTimeMillis());
        try {
            Names.checkTopic(subject, false);
            // jnats itself fails a timed-out request only when its clean-up timer next runs (every
            // nats.publish.ackTimeout), so the timeout is applied here as well, to the millisecond.
            return connection.requestWithTimeout(subject, NatsWire.headers(m), m.payload(), timeout)
                    .orTimeout(timeout.toNanos(), java.util.concurrent.TimeUnit.NANOSECONDS)
                    .handle((reply, error) -> {
                        if (error != null) {
                            throw new CompletionException(failure(subject, timeout, error));
                        }
                        if (reply.isStatusMessage()) {
                            throw new CompletionException(new NatsRequestException(reply.getStatus().getCode() == 503
                                    ? "no responder is subscribed to " + subject
                                    : "request to " + subject + " failed: " + reply.getStatus().getMessage()));
                        }
                        String remoteError = reply.getHeaders() == null ? null
                                : reply.getHeaders().getFirst(NatsWire.ERROR);
                        if (remoteError != null) {
                            throw new CompletionException(new NatsRequestException("the responder on " + subject
                                    + " failed: " + NatsWire.decode(remoteError)));
                        }
                        return NatsWire.decode(reply);
                    });
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(failure(subject, timeout, e));
        }
    }

    private static NatsRequestException failure(String subject, Duration timeout, Throwable error) {
        Throwable e = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
        if (e instanceof NatsRequestException nre) {
            return nre;
        }
        if (e instanceof CancellationException || e instanceof java.util.concurrent.TimeoutException) {
            return new NatsRequestException("no reply from " + subject + " within " + timeout.toMillis()
                    + " ms (no responder, or it was too slow)", e);
        }
        if (e instanceof io.nats.client.JetStreamStatusException || String.valueOf(e.getMessage()).contains("503")) {
            return new NatsRequestException("no responder is subscribed to " + subject, e);
        }
        return new NatsRequestException("request to " + subject + " failed: " + e, e);
    }

    /**
     * Answers requests on {@code subject} with {@code handler}, in queue group {@code queueGroup} (null for none:
     * every responder then gets every request, and the requester takes the first reply). The handler runs on this
     * responder's own dispatcher thread, one request at a time, and should return quickly; if it throws, the
     * requester's future fails with the error's text.
     */
    public Responder respond(String subject, String queueGroup, ReplyHandler handler) {
        Names.checkTopic(subject, true);
        Dispatcher dispatcher = connection.createDispatcher(msg -> {
            String replyTo = msg.getReplyTo();
            if (replyTo == null) {
                return;
            }
            io.nats.client.impl.Headers headers;
            byte[] body;
            try {
                Message reply = handler.reply(NatsWire.decode(msg)).withDefaults(System.currentTimeMillis());
                headers = NatsWire.headers(reply);
                body = reply.payload();
            } catch (Exception e) {
                headers = new io.nats.client.impl.Headers();
                headers.put(NatsWire.ERROR, NatsWire.encode(e.getClass().getName() + ": " + e.getMessage()));
                body = new byte[0];
                log.debug("Responder on {} failed", subject, e);
            }
            try {
                connection.publish(replyTo, headers, body);
            } catch (IllegalStateException e) {
                log.debug("Reply on {} not sent: {}", subject, e.getMessage());
            }
        });
        if (queueGroup == null) {
            dispatcher.subscribe(subject);
        } else {
            dispatcher.subscribe(subject, queueGroup);
        }
        try {
            connection.flush(Duration.ofSeconds(5));
        } catch (Exception e) {
            throw new SluiceException("could not register the responder on " + subject + " with the server: " + e, e);
        }
        return () -> {
            try {
                connection.closeDispatcher(dispatcher);
            } catch (RuntimeException e) {
                // connection already closed
            }
        };
    }

    /** Produces the reply to one request. */
    @FunctionalInterface
    public interface ReplyHandler {
        /** The reply to {@code request}; throwing fails the requester's future with the error's text. */
        Message reply(Message request) throws Exception;
    }

    /** A registered responder; closing it stops answering. */
    @FunctionalInterface
    public interface Responder extends AutoCloseable {
        @Override
        void close();
    }
}
