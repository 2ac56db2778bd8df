package io.sluice.nats;

/**
 * Reads the delivery count, stream sequence and pending count from a JetStream ack subject, without allocating:
 * {@code $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>}, or the longer form with a domain and
 * account hash before the stream. Stateless; any thread.
 */
final class JetStreamAckSubject {
    private JetStreamAckSubject() {
    }

    /** Fills {@code f.delivered}, {@code f.seq} and {@code f.pending} from ack subject {@code s}. */
    static void parse(String s, JetStreamConsumer.Fetched f) {
        int tokens = 1;
        for (int i = 0; i < s.length(); i++) {
            if (s.charAt(i) == '.') {
                tokens++;
            }
        }
        int first = tokens >= 11 ? 6 : 4; // index of the delivered-count token
        int start = 0;
        int token = 0;
        for (int i = 0; i <= s.length(); i++) {
            if (i == s.length() || s.charAt(i) == '.') {
                if (token == first) {
                    f.delivered = (int) Math.min(Integer.MAX_VALUE, parseLong(s, start, i));
                } else if (token == first + 1) {
                    f.seq = parseLong(s, start, i);
                } else if (token == first + 4) {
                    f.pending = parseLong(s, start, i);
                    return;
                }
                token++;
                start = i + 1;
            }
        }
    }

    /** The decimal number in {@code s[from, to)}, or -1 if there is none. */
    static long parseLong(String s, int from, int to) {
        if (from < 0 || to <= from) {
            return -1;
        }
        long v = 0;
        for (int i = from; i < to; i++) {
            char c = s.charAt(i);
            if (c < '0' || c > '9') {
                return -1;
            }
            v = v * 10 + (c - '0');
        }
        return v;
    }

    static int parseInt(String s, int from, int to) {
        return (int) Math.min(Integer.MAX_VALUE, parseLong(s, from, to));
    }
}
