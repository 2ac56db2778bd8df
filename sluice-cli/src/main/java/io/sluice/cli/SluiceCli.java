package io.sluice.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.util.concurrent.Callable;

/**
 * The {@code sluice} command line: {@code demo}, {@code log ...}, {@code dlq ...}. Run through the {@code ./sluice}
 * launcher, which picks a JDK 21+ and rebuilds when the sources changed. {@code ./sluice bench ...} is handled by the
 * launcher too, on the benchmark module's own class path ({@code io.sluice.bench.BenchCli}): the CLI does not
 * depend on the benchmarks.
 */
@Command(name = "sluice", mixinStandardHelpOptions = true, version = "sluice 0.1.0-SNAPSHOT",
        description = "Resilient, high-throughput messaging for Java 21+.",
        subcommands = {DemoCommand.class, SluiceCli.Bench.class, io.sluice.cli.log.LogCommand.class, io.sluice.cli.dlq.DlqCommand.class, CommandLine.HelpCommand.class})
public final class SluiceCli {

    /**
     * Reached only when the CLI is run without the {@code ./sluice} launcher: says how to run the benchmarks, which
     * are not on the CLI's class path.
     */
    @Command(name = "bench", mixinStandardHelpOptions = true,
            description = "Benchmarks (run by the ./sluice launcher on their own class path).")
    static final class Bench implements Callable<Integer> {
        @CommandLine.Parameters(arity = "0..*", hidden = true)
        java.util.List<String> args;

        @Override
        public Integer call() {
            System.err.println("sluice bench: the benchmarks are not part of the CLI's class path. From a source "
                    + "checkout run ./sluice bench <name> (the launcher builds sluice-bench and runs it on its own "
                    + "class path), or: java -cp 'sluice-bench/target/sluice-bench.jar:sluice-bench/target/lib/*' "
                    + "io.sluice.bench.BenchCli <name>");
            return 2;
        }
    }

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    /** The configured command line. */
    public static CommandLine commandLine() {
        return new CommandLine(new SluiceCli());
    }
}
