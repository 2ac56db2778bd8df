package io.sluice.bench;

import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.util.ServiceLoader;

/**
 * {@code ./sluice bench <name>}: the benchmarks' own entry point. The launcher runs it on this module's class path,
 * not the CLI's, so users of the CLI do not get JMH, Chronicle Queue and Parallel Consumer.
 */
@Command(name = "sluice bench", mixinStandardHelpOptions = true, version = "sluice 0.1.0-SNAPSHOT",
        description = "Benchmarks, side by side with the raw clients and peers, measured in one run.")
public final class BenchCli implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    /** The command line with every {@link Benchmark} on the class path as a subcommand. */
    public static CommandLine commandLine() {
        CommandLine cli = new CommandLine(new BenchCli());
        for (Benchmark b : ServiceLoader.load(Benchmark.class)) {
            cli.addSubcommand(b);
        }
        return cli;
    }
}
