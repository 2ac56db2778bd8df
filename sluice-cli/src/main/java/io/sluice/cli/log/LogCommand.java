package io.sluice.cli.log;

import io.sluice.log.tools.LogInspector;
import io.sluice.log.tools.LogVerifier;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * {@code sluice log inspect DIR} and {@code sluice log verify DIR}: look into an embedded log directory without
 * opening it as a transport (nothing is recovered or changed). The logic lives in {@code io.sluice.log.tools}.
 */
@Command(name = "log", mixinStandardHelpOptions = true,
        description = "Inspect or verify an embedded log directory (transport: log).",
        subcommands = {LogCommand.Inspect.class, LogCommand.Verify.class})
public final class LogCommand implements Runnable {
    /** Exit code of {@code verify} when the log has problems, and of {@code inspect} when it found damage. */
    public static final int PROBLEMS = 1;
    /** Exit code when the directory cannot be read at all. */
    public static final int UNREADABLE = 2;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    /** {@code sluice log inspect}. */
    @Command(name = "inspect", mixinStandardHelpOptions = true,
            description = "Lists topics, group offsets and segments (offsets, sizes, records, timestamps, index "
                    + "entries); with --batches or --records dumps every batch or record, like kafka-dump-log. Lists "
                    + "each damaged region with where readable batches resume; exit code 0 only if every batch read "
                    + "is sound, 1 if damage was found, 2 if the directory cannot be read.")
    static final class Inspect implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "DIR", description = "the log directory (log.dir)")
        Path dir;

        @Option(names = "--topic", description = "only this topic")
        String topic;

        @Option(names = "--partition", defaultValue = "-1", description = "only this partition")
        int partition;

        @Option(names = "--batches", description = "list every batch: position, offsets, timestamps, codec, sizes")
        boolean batches;

        @Option(names = "--records", description = "list every record: offset, timestamp, key, id, headers, value")
        boolean records;

        @Option(names = "--value-bytes", defaultValue = "32",
                description = "bytes of each value to print with --records (default ${DEFAULT-VALUE})")
        int valueBytes;

        @Override
        public Integer call() {
            PrintStream out = System.out;
            try {
                LogInspector.Result result = LogInspector.inspect(dir,
                        new LogInspector.Options(topic, partition, batches, records, valueBytes), out);
                return result.sound() ? 0 : PROBLEMS;
            } catch (IOException e) {
                System.err.println("sluice log inspect: cannot read " + dir + ": " + e.getMessage());
                return UNREADABLE;
            }
        }
    }

    /** {@code sluice log verify}. */
    @Command(name = "verify", mixinStandardHelpOptions = true,
            description = "Checks the CRCs and records of every batch, dense offsets, and that every index matches "
                    + "its log. Exit code 0 only if the log is sound, 1 if problems were found, 2 if it cannot be "
                    + "read.")
    static final class Verify implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "DIR", description = "the log directory (log.dir)")
        Path dir;

        @Override
        public Integer call() {
            if (!java.nio.file.Files.isDirectory(dir)) {
                System.err.println("sluice log verify: " + dir + " is not a directory");
                return UNREADABLE;
            }
            try {
                LogVerifier.Result result = LogVerifier.verify(dir, System.out);
                return result.sound() ? 0 : PROBLEMS;
            } catch (IOException e) {
                System.err.println("sluice log verify: cannot read " + dir + ": " + e.getMessage());
                return UNREADABLE;
            }
        }
    }
}
