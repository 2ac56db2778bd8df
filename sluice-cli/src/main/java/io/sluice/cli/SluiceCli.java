package io.sluice.cli;

import io.sluice.bench.Benchmark;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.util.ServiceLoader;

/**
 * The {@code sluice} command line: {@code demo}, {@code bench ...}, {@code log ...}, {@code dlq ...}. Run through the {@code ./sluice}
 * launcher, which picks a JDK 21+ and rebuilds when the sources changed.
 */
@Command(name = "sluice", mixinStandardHelpOptions = true, version = "sluice 0.1.0-SNAPSHOT",
        description = "Resilient, high-throughput messaging for Java 21+.",
        subcommands = {DemoCommand.class, SluiceCli.Bench.class, io.sluice.cli.log.LogCommand.class, io.sluice.cli.dlq.DlqCommand.class, CommandLine.HelpCommand.class})
public final class SluiceCli {

    /** The group of benchmarks; each is a {@link Benchmark} found on the class path. */
    @Command(name = "bench", mixinStandardHelpOptions = true,
            description = "Benchmarks, side by side with the raw clients and peers, measured in one run.")
    static final class Bench implements Runnable {
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public void run() {
            spec.commandLine().usage(System.out);
        }
    }

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    /** The configured command line, benchmarks included. */
    public static CommandLine commandLine() {
        CommandLine cli = new CommandLine(new SluiceCli());
        CommandLine bench = cli.getSubcommands().get("bench");
        for (Benchmark b : ServiceLoader.load(Benchmark.class)) {
            bench.addSubcommand(b);
        }
        return cli;
    }
}
