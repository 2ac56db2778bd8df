package io.sluice.rabbitmq;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.DefaultConsumer;
import com.rabbitmq.client.Envelope;
import io.sluice.Message;
import io.sluice.Sluice;
import io.sluice.SluiceException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Request/reply over RabbitMQ with direct reply-to ({@code amq.rabbitmq.reply-to}), on the same API as the NATS
 * transport's {@code NatsRequests}. Requests go to the topic exchange {@code sluice.rpc} with the subject as routing
 * key, {@code mandatory}, so a request no responder listens to fails at once; replies come back on the requester's
 * direct reply-to pseudo-queue, matched by correlation id. A responder in a queue group shares the group's queue
 * {@code sluice.rpc.<subject>.<group>} with the other members (each request to one of them); without a group it has a
 * queue of its own (every responder gets every request, the requester takes the first reply). Subjects of
 * responders may use AMQP topic wildcards ({@code *} one word, {@code #} any number).
 *
 * <pre>{@code
 * RabbitMqRequests requests = RabbitMqRequests.of(sluice);
 * try (RabbitMqRequests.Responder echo = requests.respond("svc.echo", "echoers",
 *         request -> Message.of(request.key(), "echo: " + request.payloadAsString()))) {
 *     Message reply = requests.request("svc.echo", Message.of("k", "hi"), Duration.ofSeconds(2)).join();
 * }
 * }</pre>
 *
 * At most once: requests and replies are not persisted, nothing is retried for you. Thread-safe: requests are
 * published from the caller's thread on one channel (amqp-client serialises frames on it); replies, returns and
 * responder handlers run on the client's connection threads.
 */
public final class RabbitMqRequests implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(RabbitMqRequests.class);
    static final String EXCHANGE = "sluice.rpc";
    private static final String REPLY_TO = "amq.rabbitmq.reply-to";
    static final String ERROR = "x-sluice-error";

    private final Connection consuming;
    private final Channel channel;
    private final Map<String, CompletableFuture<Message>> pending = new ConcurrentHashMap<>();
    private final AtomicLong ids = new AtomicLong();
    private final String prefix = Long.toHexString(System.nanoTime()) + "-";

    RabbitMqRequests(Connection publishing, Connection consuming) {
        this.consuming = consuming;
        try {
            this.channel = publishing.createChannel();
            channel.exchangeDeclare(EXCHANGE, "topic", true);
            channel.basicConsume(REPLY_TO, true, new DefaultConsumer(channel) {
                @Override
                public void handleDelivery(String tag, Envelope envelope, AMQP.BasicProperties props, byte[] body) {
                    CompletableFuture<Message> f = props.getCorrelationId() == null ? null
                            : pending.remove(props.getCorrelationId());
                    if (f == null) {
                        return; // timed out already
                    }
                    Object error = props.getHeaders() == null ? null : props.getHeaders().get(ERROR);
                    if (error != null) {
                        f.completeExceptionally(new RabbitMqRequestException("the responder failed: "
                                + new String(error instanceof com.rabbitmq.client.LongString ls ? ls.getBytes()
                                : String.valueOf(error).getBytes(StandardCharsets.UTF_8), StandardCharsets.UTF_8)));
                    } else {
                        f.complete(RabbitMqWire.decode(props, body));
                    }
                }
            });
            channel.addReturnListener((code, text, exchange, routingKey, props, body) -> {
                CompletableFuture<Message> f = props.getCorrelationId() == null ? null
                        : pending.remove(props.getCorrelationId());
                if (f != null) {
                    f.completeExceptionally(new RabbitMqRequestException("no responder listens to " + routingKey));
                }
            });
        } catch (IOException e) {
            throw new SluiceException("could not set up request/reply on RabbitMQ: " + e.getMessage(), e);
        }
    }

    /** Request/reply on the RabbitMQ transport of {@code sluice}. */
    public static RabbitMqRequests of(Sluice sluice) {
        if (!(sluice.transport() instanceof RabbitMqTransport rabbit)) {
            throw new IllegalArgumentException("request/reply needs transport: rabbitmq, but this client uses "
                    + sluice.transport().name());
        }
        return rabbit.requests();
    }

    /**
     * Sends {@code request} to {@code subject} and waits (asynchronously) for one reply.
     *
     * @return a future completed with the reply, or failed with {@link RabbitMqRequestException} when no responder
     *         listens, no reply comes within {@code timeout}, or the responder's handler failed
     */
    public CompletableFuture<Message> request(String subject, Message request, Duration timeout) {
        Objects.requireNonNull(request, "request");
        Message m = request.withDefaults(System.currentTimeMillis());
        String correlation = prefix + ids.incrementAndGet();
        CompletableFuture<Message> reply = new CompletableFuture<>();
        pending.put(correlation, reply);
        AMQP.BasicProperties base = RabbitMqWire.properties(m, -1, null);
        AMQP.BasicProperties props = base.builder().deliveryMode(1).replyTo(REPLY_TO).correlationId(correlation)
                .build();
        try {
            channel.basicPublish(EXCHANGE, subject, true, props, m.payload());
        } catch (IOException | RuntimeException e) {
            pending.remove(correlation);
            return CompletableFuture.failedFuture(new RabbitMqRequestException("request to " + subject
                    + " failed: " + e, e));
        }
        return reply.orTimeout(timeout.toNanos(), TimeUnit.NANOSECONDS).handle((r, e) -> {
            if (e == null) {
                return r;
            }
            pending.remove(correlation);
            Throwable cause = e instanceof java.util.concurrent.CompletionException && e.getCause() != null
                    ? e.getCause() : e;
            if (cause instanceof TimeoutException) {
                throw new java.util.concurrent.CompletionException(new RabbitMqRequestException("no reply from "
                        + subject + " within " + timeout.toMillis() + " ms (the responder was too slow)", cause));
            }
            throw new java.util.concurrent.CompletionException(cause);
        });
    }

    /**
     * Answers requests on {@code subject} with {@code handler}, in queue group {@code queueGroup} (null for none).
     * The handler runs on the client's connection thread for this responder, one request at a time, and should
     * return quickly; if it throws, the requester's future fails with the error's text.
     */
    public Responder respond(String subject, String queueGroup, ReplyHandler handler) {
        try {
            Channel ch = consuming.createChannel();
            ch.exchangeDeclare(EXCHANGE, "topic", true);
            String queue = queueGroup == null ? ch.queueDeclare().getQueue()
                    : ch.queueDeclare("sluice.rpc." + subject + "." + queueGroup, false, false, true, null)
                    .getQueue();
            ch.queueBind(queue, EXCHANGE, subject);
            ch.basicConsume(queue, true, new DefaultConsumer(ch) {
                @Override
                public void handleDelivery(String tag, Envelope envelope, AMQP.BasicProperties props, byte[] body) {
                    if (props.getReplyTo() == null) {
                        return;
                    }
                    AMQP.BasicProperties replyProps;
                    byte[] replyBody;
                    try {
                        Message reply = handler.reply(RabbitMqWire.decode(props, body))
                                .withDefaults(System.currentTimeMillis());
                        replyProps = RabbitMqWire.properties(reply, -1, null).builder().deliveryMode(1)
                                .correlationId(props.getCorrelationId()).build();
                        replyBody = reply.payload();
                    } catch (Exception e) {
                        Map<String, Object> h = new HashMap<>();
                        h.put(ERROR, e.getClass().getName() + ": " + e.getMessage());
                        replyProps = new AMQP.BasicProperties.Builder().correlationId(props.getCorrelationId())
                                .headers(h).build();
                        replyBody = new byte[0];
                        log.debug("Responder on {} failed", subject, e);
                    }
                    try {
                        getChannel().basicPublish("", props.getReplyTo(), replyProps, replyBody);
                    } catch (IOException | RuntimeException e) {
                        log.debug("Reply on {} not sent: {}", subject, e.toString());
                    }
                }
            });
            return () -> {
                try {
                    ch.close();
                } catch (IOException | TimeoutException | RuntimeException e) {
                    // connection already closed
                }
            };
        } catch (IOException e) {
            throw new SluiceException("could not register the responder on " + subject + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        pending.values().forEach(f -> f.completeExceptionally(new RabbitMqRequestException("closed")));
        try {
            channel.close();
        } catch (IOException | TimeoutException | RuntimeException e) {
            // connection already closed
        }
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
