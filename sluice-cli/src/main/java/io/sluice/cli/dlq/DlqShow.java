package io.sluice.cli.dlq;

import io.sluice.DeadLetters;
import io.sluice.Message;
import io.sluice.MessageIds;
import io.sluice.Sluice;
import io.sluice.log.LogRecord;
import io.sluice.log.LogTransport;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintStream;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code sluice dlq show TOPIC}: prints each dead letter of {@code TOPIC} with its cause, from the start of the
 * dead-letter topic. On the embedded log it reads the partitions directly: nothing is acknowledged and no group is
 * created. Other transports have no read-without-a-group in the SPI, so there it reads through a consumer group
 * ({@code --group}, by default a new one each run), which acknowledges what it shows and says so.
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

    @Option(names = "--group", description = "on transports other than the embedded log: the consumer group to read "
            + "through (default: a new sluice-dlq-show-<uuid> each run)")
    String group;

    private final PrintStream out = System.out;

    @Override
    public Integer call() throws Exception {
        String dlq = source.dlqTopic(topic);
        try (Sluice sluice = Sluice.create(source.config())) {
            if (sluice.transport() instanceof LogTransport log) {
                long n = showFromLog(log, dlq);
                out.printf("%,d dead letter(s) on %s%n", n, dlq);
                return 0;
            }
            String g = group != null ? group : "sluice-dlq-show-" + MessageIds.newId();
            out.printf("reading %s through consumer group %s on transport %s: what is shown is acknowledged for "
                    + "that group%n", dlq, g, sluice.config().transport());
            DlqCommand.Drained d = DlqCommand.drain(sluice, dlq, g, source, this::print, out);
            out.printf("%,d dead letter(s) on %s%n", d.handled(), dlq);
            return d.complete() ? 0 : 1;
        }
    }

    /** Reads every partition of the dead-letter topic from its start, without a group. */
    private long showFromLog(LogTransport log, String dlq) {
        if (!log.topics().contains(dlq)) {
            return 0;
        }
        long n = 0;
        for (int p = 0; p < log.partitions(dlq) && n < source.limit; p++) {
            long next = log.startOffset(dlq, p);
            long end = log.endOffset(dlq, p);
            while (next < end && n < source.limit) {
                List<LogRecord> batch = log.read(dlq, p, next, (int) Math.min(500, source.limit - n));
                if (batch.isEmpty()) {
                    break;
                }
                for (LogRecord r : batch) {
                    print(r.message());
                    n++;
                    next = r.offset() + 1;
                }
            }
        }
        return n;
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
