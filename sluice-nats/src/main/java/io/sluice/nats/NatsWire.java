package io.sluice.nats;

import io.sluice.Message;

import java.nio.charset.StandardCharsets;

/**
 * How a Sluice {@link Message} travels as a NATS message. The payload is the NATS body, untouched, so plain NATS
 * clients can read it. The rest goes into NATS headers:
 *
 * <pre>
 * Nats-Msg-Id     the message id (JetStream deduplicates repeated publishes of one id in the duplicate window)
 * Sluice-Key      the key, when there is one
 * Sluice-Time     the timestamp, epoch milliseconds in decimal
 * Sluice-Headers  the user headers, in order: name=value pairs joined by '&amp;'
 * </pre>
 *
 * NATS header names must be printable ASCII and jnats does not promise to keep their order, so ids, keys and user
 * headers are percent-encoded (RFC 3986 unreserved characters pass through; every other UTF-8 byte becomes
 * {@code %XX}) and user headers travel as one ordered header. Unicode and empty values round-trip byte-exact.
 *
 * <p>Stateless and thread-safe.
 */
final class NatsWire {
    static final String ID = "Nats-Msg-Id";
    static final String KEY = "Sluice-Key";
    static final String TIME = "Sluice-Time";
    static final String HEADERS = "Sluice-Headers";
    /** Set on a reply when the responder's handler failed; the value says why. */
    static final String ERROR = "Sluice-Error";

    private static final byte[] HEX = "0123456789ABCDEF".getBytes(StandardCharsets.US_ASCII);

    private NatsWire() {
    }

    /** NATS headers for {@code m}, whose id and timestamp are set. */
    static io.nats.client.impl.Headers headers(Message m) {
        io.nats.client.impl.Headers h = new io.nats.client.impl.Headers();
        h.put(ID, encode(m.id()));
        if (m.key() != null) {
            h.put(KEY, encode(m.key()));
        }
        h.put(TIME, Long.toString(m.timestampMillis()));
        io.sluice.Headers user = m.headers();
        if (!user.isEmpty()) {
            StringBuilder sb = new StringBuilder(32 * user.size());
            for (int i = 0, n = user.size(); i < n; i++) {
                if (i > 0) {
                    sb.append('&');
                }
                encodeTo(sb, user.name(i));
                sb.append('=');
                encodeTo(sb, user.value(i));
            }
            h.put(HEADERS, sb.toString());
        }
        return h;
    }

    /** The Sluice message carried by a NATS message; a message from a plain NATS client gets defaults. */
    static Message decode(io.nats.client.Message nats) {
        Message.Builder b = Message.builder().payload(nats.getData() == null ? new byte[0] : nats.getData());
        io.nats.client.impl.Headers h = nats.getHeaders();
        if (h != null) {
            String id = h.getFirst(ID);
            if (id != null) {
                b.id(decode(id));
            }
            String key = h.getFirst(KEY);
            if (key != null) {
                b.key(decode(key));
            }
            String time = h.getFirst(TIME);
            if (time != null) {
                try {
                    b.timestampMillis(Long.parseLong(time));
                } catch (NumberFormatException e) {
                    // a foreign header of the same name: keep the default timestamp
                }
            }
            String headers = h.getFirst(HEADERS);
            if (headers != null && !headers.isEmpty()) {
                int start = 0;
                while (start <= headers.length()) {
                    int end = headers.indexOf('&', start);
                    if (end < 0) {
                        end = headers.length();
                    }
                    int eq = headers.indexOf('=', start);
                    if (eq > start && eq < end) {
                        b.header(decode(headers.substring(start, eq)), decode(headers.substring(eq + 1, end)));
                    }
                    start = end + 1;
                }
            }
        }
        return b.build();
    }

    static String encode(String s) {
        if (isPlain(s)) {
            return s;
        }
        StringBuilder sb = new StringBuilder(s.length() + 16);
        encodeTo(sb, s);
        return sb.toString();
    }

    private static boolean isPlain(String s) {
        for (int i = 0, n = s.length(); i < n; i++) {
            if (!unreserved(s.charAt(i))) {
                return false;
            }
        }
        return true;
    }

    private static boolean unreserved(char c) {
        return c < 128 && UNRESERVED[c];
    }

    private static final boolean[] UNRESERVED = new boolean[128];

    static {
        for (char c = 0; c < 128; c++) {
            UNRESERVED[c] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                    || c == '-' || c == '_' || c == '.' || c == '~';
        }
    }

    private static void encodeTo(StringBuilder sb, String s) {
        if (isPlain(s)) {
            sb.append(s);
            return;
        }
        byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
        for (byte b : bytes) {
            char c = (char) (b & 0xff);
            if (c < 0x80 && unreserved(c)) {
                sb.append(c);
            } else {
                sb.append('%').append((char) HEX[(b >> 4) & 0xf]).append((char) HEX[b & 0xf]);
            }
        }
    }

    static String decode(String s) {
        if (s.indexOf('%') < 0) {
            return s;
        }
        byte[] out = new byte[s.length()];
        int n = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '%' && i + 2 < s.length()) {
                out[n++] = (byte) ((Character.digit(s.charAt(i + 1), 16) << 4) | Character.digit(s.charAt(i + 2), 16));
                i += 2;
            } else {
                out[n++] = (byte) c;
            }
        }
        return new String(out, 0, n, StandardCharsets.UTF_8);
    }
}
