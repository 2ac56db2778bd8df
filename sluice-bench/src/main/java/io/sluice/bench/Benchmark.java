package io.sluice.bench;

import java.util.concurrent.Callable;

/**
 * A side-by-side benchmark run by {@code ./sluice bench <name>}. Implementations are picocli {@code @Command}
 * classes (the annotation gives the name and options), listed in
 * {@code META-INF/services/io.sluice.bench.Benchmark}; the CLI adds each one under {@code bench}. {@code call()}
 * prints progress while it runs and a report at the end, and returns the exit code.
 */
public interface Benchmark extends Callable<Integer> {
}
