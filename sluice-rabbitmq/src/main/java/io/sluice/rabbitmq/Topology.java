package io.sluice.rabbitmq;

import com.rabbitmq.client.Channel;

import java.io.IOException;
import java.util.HashMap;
import java.util.Map;

/**
 * The names and declarations of a topic's exchanges and queues (see docs/rabbitmq.md for the diagram):
 *
 * <pre>
 * exchange  sluice.&lt;topic&gt;                      topic exchange, routing key = partition number;
 *                                                alternate-exchange = sluice.&lt;topic&gt;.unclaimed
 * queue     sluice.&lt;topic&gt;.g.&lt;group&gt;.&lt;p&gt;         a group's partition queue, bound with key &lt;p&gt;
 * exchange  sluice.&lt;topic&gt;.unclaimed            catches what no group queue is bound for yet
 * queue     sluice.&lt;topic&gt;.unclaimed.&lt;p&gt;        kept until the first group of the topic drains it
 * exchange  sluice.&lt;topic&gt;.g.&lt;group&gt;.delay       native delay: routing key &lt;tier ms&gt;.&lt;p&gt;
 * queue     sluice.&lt;topic&gt;.g.&lt;group&gt;.delay.&lt;ms&gt;  classic, x-message-ttl = ms, dead-letters to ...
 * exchange  sluice.&lt;topic&gt;.g.&lt;group&gt;.redeliver   ... which routes *.&lt;p&gt; back to the partition queue
 * </pre>
 *
 * Every partition queue is durable, of the configured type, with {@code x-single-active-consumer}: the broker fences
 * each queue to one consuming member at a time, whatever the members believe (see {@link RabbitMqConsumer}).
 *
 * <p>Stateless apart from the settings; thread-safe. The declaring methods do blocking I/O on the given channel.
 */
final class Topology {
    private final RabbitMqSettings settings;
    private final String[] routingKeys;
    private final Map<String, Object> queueArgs;

    Topology(RabbitMqSettings settings) {
        this.settings = settings;
        this.routingKeys = new String[settings.partitions];
        for (int p = 0; p < routingKeys.length; p++) {
            routingKeys[p] = Integer.toString(p);
        }
        Map<String, Object> args = new HashMap<>();
        args.put("x-queue-type", settings.queueType == RabbitMqSettings.QueueType.QUORUM ? "quorum" : "classic");
        args.put("x-single-active-consumer", true);
        if (settings.deliveryLimit > 0) {
            args.put("x-delivery-limit", settings.deliveryLimit);
        }
        if (settings.maxPriority > 0) {
            args.put("x-max-priority", settings.maxPriority);
        }
        this.queueArgs = Map.copyOf(args);
    }

    int partitions() {
        return routingKeys.length;
    }

    String routingKey(int partition) {
        return routingKeys[partition];
    }

    static String exchange(String topic) {
        return "sluice." + topic;
    }

    static String unclaimedExchange(String topic) {
        return "sluice." + topic + ".unclaimed";
    }

    static String unclaimedQueue(String topic, int partition) {
        return "sluice." + topic + ".unclaimed." + partition;
    }

    static String delayExchange(String topic, String group) {
        return "sluice." + topic + ".g." + group + ".delay";
    }

    static String redeliverExchange(String topic, String group) {
        return "sluice." + topic + ".g." + group + ".redeliver";
    }

    static String delayQueue(String topic, String group, long tierMillis) {
        return "sluice." + topic + ".g." + group + ".delay." + tierMillis;
    }

    /** The tier a retry after {@code delayNanos} waits in: the shortest not shorter, else the longest. */
    long tierMillis(long delayNanos) {
        java.util.List<java.time.Duration> tiers = settings.delayTiers;
        for (java.time.Duration t : tiers) {
            if (t.toNanos() >= delayNanos) {
                return t.toMillis();
            }
        }
        return tiers.get(tiers.size() - 1).toMillis();
    }

    static String groupQueue(String topic, String group, int partition) {
        return "sluice." + topic + ".g." + group + "." + partition;
    }

    /** Declares the topic's exchange and its unclaimed queues (idempotent). */
    void declareTopic(Channel ch, String topic) throws IOException {
        String unclaimed = unclaimedExchange(topic);
        ch.exchangeDeclare(unclaimed, "topic", true);
        for (int p = 0; p < routingKeys.length; p++) {
            ch.queueDeclare(unclaimedQueue(topic, p), true, false, false, queueArgs);
            ch.queueBind(unclaimedQueue(topic, p), unclaimed, routingKeys[p]);
        }
        ch.exchangeDeclare(exchange(topic), "topic", true, false, Map.of("alternate-exchange", unclaimed));
    }

    /** Declares the topic and the group's partition queues, bound to the topic's exchange (idempotent). */
    void declareGroup(Channel ch, String topic, String group) throws IOException {
        declareTopic(ch, topic);
        for (int p = 0; p < routingKeys.length; p++) {
            ch.queueDeclare(groupQueue(topic, group, p), true, false, false, queueArgs);
            ch.queueBind(groupQueue(topic, group, p), exchange(topic), routingKeys[p]);
        }
        if (settings.delayTiers.isEmpty()) {
            return;
        }
        String delay = delayExchange(topic, group);
        String redeliver = redeliverExchange(topic, group);
        ch.exchangeDeclare(delay, "topic", true);
        ch.exchangeDeclare(redeliver, "topic", true);
        for (java.time.Duration tier : settings.delayTiers) {
            long ms = tier.toMillis();
            ch.queueDeclare(delayQueue(topic, group, ms), true, false, false, Map.of("x-queue-type", "classic",
                    "x-message-ttl", ms, "x-dead-letter-exchange", redeliver));
            ch.queueBind(delayQueue(topic, group, ms), delay, ms + ".*");
        }
        for (int p = 0; p < routingKeys.length; p++) {
            ch.queueBind(groupQueue(topic, group, p), redeliver, "*." + routingKeys[p]);
        }
    }

    RabbitMqSettings settings() {
        return settings;
    }
}
