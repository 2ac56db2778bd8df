package io.sluice.nats;

import io.nats.client.Connection;
import io.nats.client.Dispatcher;
import io.nats.client.Nats;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Watches, on a connection of its own, the traffic of the members of one topic's stream: each in-progress ack
 * ({@code +WPI}, published on the message's ack subject), each pull request (on the durable's {@code MSG.NEXT}
 * subject) and each pull the server ended with a status (408 when it expired). Core subscriptions get a copy of each
 * beside the server's own, so tests can wait for these events instead of for time to pass.
 *
 * <p>Thread-safe: the counts are written on the witness's dispatcher thread and read by the test.
 */
final class JetStreamWitness implements AutoCloseable {
    private static final String INBOXES = "_INBOX.sluice.>";

    private final Connection nc;
    private final String stream;
    /** In-progress acks per message, keyed by the ack subject's stream sequence. */
    private final Map<String, AtomicInteger> progressAcks = new ConcurrentHashMap<>();
    /** Reply subjects of pull requests per durable, in the order the server got them. */
    private final Map<String, Set<String>> pulls = new ConcurrentHashMap<>();
    /** Reply subjects of pulls the server ended with a status (expired, or another end). */
    private final Set<String> ended = ConcurrentHashMap.newKeySet();

    JetStreamWitness(String url, String topic) throws Exception {
        this.nc = Nats.connect(url);
        this.stream = Names.stream(topic);
        Dispatcher d = nc.createDispatcher(msg -> {
            String subject = msg.getSubject();
            if (subject.startsWith("$JS.ACK.")) {
                if (isInProgress(msg.getData()) && subject.contains("." + stream + ".")) {
                    progressAcks.computeIfAbsent(streamSequence(subject), s -> new AtomicInteger()).incrementAndGet();
                }
            } else if (subject.startsWith("$JS.API.CONSUMER.MSG.NEXT.")) {
                String durable = subject.substring(subject.lastIndexOf('.') + 1);
                if (msg.getReplyTo() != null) {
                    pulls.computeIfAbsent(durable, k -> ConcurrentHashMap.newKeySet()).add(msg.getReplyTo());
                }
            } else if (msg.isStatusMessage()) {
                ended.add(subject);
            }
        });
        d.subscribe("$JS.ACK.>");
        d.subscribe("$JS.API.CONSUMER.MSG.NEXT." + stream + ".>");
        d.subscribe(INBOXES);
        nc.flush(Duration.ofSeconds(5));
    }

    private static boolean isInProgress(byte[] data) {
        return data != null && new String(data, StandardCharsets.US_ASCII).equals("+WPI");
    }

    /**
     * The stream sequence in an ack subject: {@code $JS.ACK.<stream>.<durable>.<delivered>.<sseq>...} (newer servers
     * put a domain and an account hash before the stream), so the third token after the stream's.
     */
    private String streamSequence(String ackSubject) {
        String[] tokens = ackSubject.split("\\.");
        for (int i = 2; i + 3 < tokens.length; i++) {
            if (tokens[i].equals(stream)) {
                return tokens[i + 3];
            }
        }
        return ackSubject;
    }

    /** How many messages of the stream got at least {@code n} in-progress acks. */
    int messagesWithProgressAcks(int n) {
        int count = 0;
        for (AtomicInteger c : progressAcks.values()) {
            if (c.get() >= n) {
                count++;
            }
        }
        return count;
    }

    /** The in-progress acks counted so far for each message: a snapshot to compare with later. */
    Map<String, Integer> progressAcks() {
        Map<String, Integer> copy = new ConcurrentHashMap<>();
        progressAcks.forEach((k, v) -> copy.put(k, v.get()));
        return copy;
    }

    /** The reply subjects of the pull requests sent so far for {@code durable}: a snapshot. */
    Set<String> pulls(String durable) {
        return Set.copyOf(pulls.getOrDefault(durable, Set.of()));
    }

    /** True once the server ended, with a status, a pull for {@code durable} that is not in {@code before}. */
    boolean newPullEnded(String durable, Set<String> before) {
        for (String reply : pulls.getOrDefault(durable, Set.of())) {
            if (!before.contains(reply) && ended.contains(reply)) {
                return true;
            }
        }
        return false;
    }

    @Override
    public void close() throws InterruptedException {
        nc.close();
    }
}
