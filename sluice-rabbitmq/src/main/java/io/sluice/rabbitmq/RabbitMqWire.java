package io.sluice.rabbitmq;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.LongString;
import io.sluice.Headers;
import io.sluice.Message;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * How a Sluice {@link Message} travels as an AMQP 0-9-1 message. The payload is the AMQP body, untouched; the id is
 * the AMQP {@code message-id}, so a retried publish is recognisable; persistent delivery mode. The rest goes into
 * AMQP headers, readable by any AMQP client:
 *
 * <pre>
 * x-sluice-offset  the offset the publisher gave it within its partition (long)
 * x-sluice-time    the timestamp, epoch milliseconds (long)
 * x-sluice-key     the key, UTF-8 bytes, when there is one
 * x-sluice-order   the names of the user headers in order (an AMQP array): AMQP tables do not keep order
 * name = value     each user header as a UTF-8 long string
 * </pre>
 *
 * Header names starting with {@code x-sluice-} are reserved. Headers the broker adds ({@code x-delivery-count},
 * {@code x-death}, ...) are not user headers. Unicode and empty values round-trip byte-exact.
 *
 * <p>Stateless and thread-safe.
 */
final class RabbitMqWire {
    static final String OFFSET = "x-sluice-offset";
    static final String TIME = "x-sluice-time";
    static final String KEY = "x-sluice-key";
    static final String ORDER = "x-sluice-order";
    /** Handler attempts already made, on a message that comes back from a delay tier. */
    static final String ATTEMPTS = "x-sluice-attempts";
    static final String RESERVED = "x-sluice-";

    private RabbitMqWire() {
    }

    /** AMQP properties for {@code m}, whose id and timestamp are set. */
    static AMQP.BasicProperties properties(Message m, long offset, Integer priority) {
        return properties(m, offset, priority, 0);
    }

    /** As {@link #properties(Message, long, Integer)}, for a retry that already had {@code attempts} attempts. */
    static AMQP.BasicProperties properties(Message m, long offset, Integer priority, int attempts) {
        Headers user = m.headers();
        int n = user.size();
        Map<String, Object> h = new HashMap<>(2 * (n + 4));
        h.put(OFFSET, offset);
        h.put(TIME, m.timestampMillis());
        if (attempts > 0) {
            h.put(ATTEMPTS, attempts);
        }
        if (m.key() != null) {
            h.put(KEY, m.key()); // amqp-client writes a String as a UTF-8 long string
        }
        if (n > 0) {
            List<String> order = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                String name = user.name(i);
                order.add(name);
                h.put(name, user.value(i));
            }
            h.put(ORDER, order);
        }
        return new AMQP.BasicProperties.Builder().messageId(m.id()).deliveryMode(2).headers(h).priority(priority)
                .build();
    }

    /** The Sluice message carried by an AMQP message; one from a plain AMQP client gets defaults. */
    static Message decode(AMQP.BasicProperties props, byte[] body) {
        Message.Builder b = Message.builder().payload(body == null ? new byte[0] : body);
        if (props.getMessageId() != null) {
            b.id(props.getMessageId());
        }
        Map<String, Object> h = props.getHeaders();
        if (h == null) {
            if (props.getTimestamp() != null) {
                b.timestampMillis(props.getTimestamp().getTime());
            }
            return b.build();
        }
        Object time = h.get(TIME);
        if (time instanceof Number t) {
            b.timestampMillis(t.longValue());
        } else if (props.getTimestamp() != null) {
            b.timestampMillis(props.getTimestamp().getTime());
        }
        Object key = h.get(KEY);
        if (key != null) {
            b.key(text(key));
        }
        Object order = h.get(ORDER);
        if (order instanceof List<?> names) {
            for (Object name : names) {
                String n = text(name);
                Object v = h.get(n);
                if (v != null) {
                    b.header(n, text(v));
                }
            }
        } else {
            for (Map.Entry<String, Object> e : h.entrySet()) {
                String n = e.getKey();
                if (!n.startsWith(RESERVED) && !brokerHeader(n) && e.getValue() != null) {
                    b.header(n, text(e.getValue()));
                }
            }
        }
        return b.build();
    }

    /** The offset the publisher wrote, or -1 for a message from a plain AMQP client. */
    static long offset(AMQP.BasicProperties props) {
        Map<String, Object> h = props.getHeaders();
        Object o = h == null ? null : h.get(OFFSET);
        return o instanceof Number n ? n.longValue() : -1;
    }

    /** The delivery attempt of a message: 1, or one more than the attempts a delay tier carried. */
    static int deliveryAttempt(AMQP.BasicProperties props) {
        Map<String, Object> h = props.getHeaders();
        Object o = h == null ? null : h.get(ATTEMPTS);
        return o instanceof Number n ? n.intValue() + 1 : 1;
    }

    private static boolean brokerHeader(String name) {
        return name.equals("x-delivery-count") || name.equals("x-death") || name.startsWith("x-first-death-")
                || name.startsWith("x-last-death-");
    }

    private static String text(Object v) {
        if (v instanceof LongString ls) {
            return new String(ls.getBytes(), StandardCharsets.UTF_8);
        }
        if (v instanceof byte[] bytes) {
            return new String(bytes, StandardCharsets.UTF_8);
        }
        return String.valueOf(v);
    }
}
