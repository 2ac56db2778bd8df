package io.sluice.cli.dlq;

import io.sluice.DeadLetters;
import io.sluice.Message;
import io.sluice.MessageIds;
import io.sluice.Sluice;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintStream;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.ByteBuffer;
import java.util.concurrent.Callable;

/**
 * {@code sluice dlq show TOPIC}: prints each dead letter of {@code TOPIC} with its cause, from the start of the
 * dead-letter topic, in a group of its own each run, so nothing is consumed for anyone else.
 */
@Command(name = "show", mixinStandardHelpOptions = true,
        description = "Print the dead letters of TOPIC: where they came from, why, and a preview of the payload.")
final class DlqShow implements Callable<Integer> {
    @Parameters(index = "0", description = "the topic whose dead letters to show")
    String topic;

    @Mixin
    DlqCommand.Source source;

    @Option(names = "--payload-chars", defaultValue = "120", description = "payload preview length (default ${DEFAULT-VALUE})")
    int payloadChars;

    private final PrintStream out = System.out;

    @Override
    public Integer call() throws Exception {
        String dlq = source.dlqTopic(topic);
        try (Sluice sluice = Sluice.create(source.config())) {
            String group = "sluice-dlq-show-" + MessageIds.newId();
            long n = DlqCommand.drain(sluice, dlq, group, source, m -> print(m), out);
            out.printf("%,d dead letter(s) on %s%n", n, dlq);
        }
        return 0;
    }

    private void print(Message m) {
        out.printf("%s  key=%s  from %s/%s@%s  %s after %s attempt(s), first failure %s%n", 
                m.headers().get(DeadLetters.ORIGINAL_ID) != null ? m.headers().get(DeadLetters.ORIGINAL_ID) : m.id(),
                m.key(), m.headers().get(DeadLetters.ORIGINAL_TOPIC), m.headers().get(DeadLetters.ORIGINAL_PARTITION),
                m.headers().get(DeadLetters.ORIGINAL_OFFSET), m.headers().get(DeadLetters.REASON),
                m.headers().get(DeadLetters.ATTEMPTS), m.headers().get(DeadLetters.FIRST_FAILURE_TIME));
        out.printf("    %s: %s%n", m.headers().get(DeadLetters.ERROR_CLASS), m.headers().get(DeadLetters.ERROR_MESSAGE));
        out.printf("    payload (%,d bytes): %s%n", m.payload().length, preview(m.payload()));
    }

    private String preview(byte[] payload) {
        try {
            String text = StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(payload)).toString();
            String oneLine = text.replace("\n", "\\n").replace("\r", "\\r");
            return oneLine.length() > payloadChars ? oneLine.substring(0, payloadChars) + "..." : oneLine;
        } catch (CharacterCodingException e) {
            StringBuilder hex = new StringBuilder("0x");
            for (int i = 0; i < Math.min(payload.length, payloadChars / 2); i++) {
                hex.append(String.format("%02x", payload[i]));
            }
            return hex + (payload.length > payloadChars / 2 ? "..." : "") + " (binary)";
        }
    }
}
