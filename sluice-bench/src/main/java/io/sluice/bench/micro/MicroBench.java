package io.sluice.bench.micro;

import io.sluice.bench.Benchmark;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.util.Collection;
import java.util.concurrent.TimeUnit;

/**
 * {@code sluice bench micro}: the JMH micro-benchmarks of hot paths (publisher bookkeeping, message ids), run in
 * forked JVMs with the CLI's class path. JMH prints each iteration as it goes.
 */
@Command(name = "micro", mixinStandardHelpOptions = true,
        description = "JMH micro-benchmarks of hot paths (ns per operation).")
public final class MicroBench implements Benchmark {
    @Option(names = "--include", defaultValue = "io\\.sluice\\.bench\\.micro\\..*",
            description = "regular expression of benchmarks to run (default ${DEFAULT-VALUE})")
    String include;

    @Option(names = "--forks", defaultValue = "1", description = "forked JVMs per benchmark (default ${DEFAULT-VALUE})")
    int forks;

    @Option(names = "--warmup-iterations", defaultValue = "3", description = "(default ${DEFAULT-VALUE})")
    int warmupIterations;

    @Option(names = "--iterations", defaultValue = "5", description = "(default ${DEFAULT-VALUE})")
    int iterations;

    @Option(names = "--iteration-ms", defaultValue = "1000", description = "length of one iteration (default ${DEFAULT-VALUE})")
    long iterationMillis;

    @Option(names = "--profiler", description = "a JMH profiler, e.g. gc")
    String profiler;

    @Override
    public Integer call() throws Exception {
        ChainedOptionsBuilder options = new OptionsBuilder()
                .include(include)
                .forks(forks)
                .warmupIterations(warmupIterations)
                .warmupTime(TimeValue.milliseconds(iterationMillis))
                .measurementIterations(iterations)
                .measurementTime(TimeValue.milliseconds(iterationMillis))
                .mode(org.openjdk.jmh.annotations.Mode.AverageTime)
                .timeUnit(TimeUnit.NANOSECONDS)
                .jvmArgsAppend("-Xmx1g");
        if (profiler != null) {
            options.addProfiler(profiler);
        }
        Collection<RunResult> results = new Runner(options.build()).run();
        return results.isEmpty() ? 1 : 0;
    }
}
