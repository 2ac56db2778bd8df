package io.sluice.cli.dlq;

import io.sluice.DeadLetters;
import io.sluice.Headers;
import io.sluice.Message;
import io.sluice.Sluice;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintStream;
import java.time.Duration;
import java.util.concurrent.Callable;

/**
 * {@code sluice dlq replay TOPIC}: publishes each dead letter of {@code TOPIC} again, as the message it was (key,
 * payload and headers, without the {@code sluice-dlq-*} cause headers), to its original topic or to {@code --to}.
 * It gets an id of its own, derived from the dead-letter topic and the letter's id, with the
 * original id in {@value #REPLAY_OF}: a broker that deduplicates by id (JetStream's duplicate window) would otherwise
 * drop a replay made soon after the original, and a replay repeated after a crash keeps the same id, so such a
 * broker and an idempotent consumer see one message. The replay is stamped now (time-based retention and
 * timestamp checks apply to it as a new message); the letter's time is in {@value #ORIGINAL_TIME}.
 *
 * <p>Reads in a durable group, so a dead letter is replayed once however often the command runs; each is
 * acknowledged only after its publish is confirmed, so an interrupted replay loses nothing.
 */
@Command(name = "replay", mixinStandardHelpOptions = true,
        description = "Publish the dead letters of TOPIC again, to their original topic or to --to.")
final class DlqReplay implements Callable<Integer> {
    /** Header naming the id of the message a replay repeats. */
    static final String REPLAY_OF = "sluice-replay-of";
    /** Header with the dead letter's own timestamp, epoch milliseconds. */
    static final String ORIGINAL_TIME = "sluice-replay-original-time";

    @Parameters(index = "0", description = "the topic whose dead letters to replay")
    String topic;

    @Mixin
    DlqCommand.Source source;

    @Option(names = "--to", description = "publish to this topic instead of each letter's original topic")
    String to;

    @Option(names = "--group", defaultValue = "sluice-dlq-replay",
            description = "the group that remembers what was replayed (default ${DEFAULT-VALUE})")
    String group;

    private final PrintStream out = System.out;

    @Override
    public Integer call() throws Exception {
        String dlq = source.dlqTopic(topic);
        try (Sluice sluice = Sluice.create(source.config())) {
            DlqCommand.Drained d = DlqCommand.drain(sluice, dlq, group, source, letter -> {
                String origin = letter.headers().get(DeadLetters.ORIGINAL_TOPIC);
                String target = to != null ? to : origin != null ? origin : topic;
                if (to == null && origin == null) {
                    out.printf("letter %s names no original topic (%s); replaying it to %s%n", letter.id(),
                            DeadLetters.ORIGINAL_TOPIC, topic);
                }
                Message replay = original(letter, dlq);
                sluice.publisher().publish(target, replay).get(30, java.util.concurrent.TimeUnit.SECONDS);
                out.printf("replayed %s to %s as %s%n", replay.headers().get(REPLAY_OF), target, replay.id());
            }, out);
            sluice.publisher().flush(Duration.ofSeconds(30));
            out.printf("%,d dead letter(s) replayed from %s%n", d.handled(), dlq);
            return d.complete() ? 0 : 1;
        }
    }

    /** The message as it was before it failed, without the dead-letter headers, naming the id it had. */
    static Message original(Message letter, String dlqTopic) {
        Headers.Builder headers = Headers.builder();
        letter.headers().forEach((k, v) -> {
            if (!k.startsWith("sluice-dlq-") && !k.equals(REPLAY_OF) && !k.equals(ORIGINAL_TIME)) {
                headers.set(k, v);
            }
        });
        headers.set(REPLAY_OF, orDefault(letter.headers().get(DeadLetters.ORIGINAL_ID), letter.id()));
        headers.set(ORIGINAL_TIME, Long.toString(letter.timestampMillis()));
        String where = dlqTopic + "/" + letter.id();
        return Message.builder()
                .id(java.util.UUID.nameUUIDFromBytes(("sluice-replay:" + where)
                        .getBytes(java.nio.charset.StandardCharsets.UTF_8)).toString())
                .key(letter.key())
                .payload(letter.payload())
                .headers(headers.build())
                .build();
    }

    private static String orDefault(String value, String fallback) {
        return value != null ? value : fallback;
    }
}
