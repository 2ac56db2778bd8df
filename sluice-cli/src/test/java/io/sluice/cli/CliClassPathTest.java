package io.sluice.cli;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The CLI's class path (what its users get, here with the test dependencies on top) holds no benchmark code: not
 * sluice-bench, and none of what only the benchmarks need. {@code ./sluice bench} runs them on their own class path.
 */
class CliClassPathTest {
    @Test
    void shouldCarryNoBenchmarkCodeOrBenchmarkOnlyDependencies() {
        for (String benchOnly : new String[] {"io.sluice.bench.Benchmark", "org.openjdk.jmh.runner.Runner",
                "net.openhft.chronicle.queue.ChronicleQueue", "io.confluent.parallelconsumer.ParallelConsumer"}) {
            assertThatThrownBy(() -> Class.forName(benchOnly, false, CliClassPathTest.class.getClassLoader()))
                    .as(benchOnly).isInstanceOf(ClassNotFoundException.class);
        }
    }

    @Test
    void shouldSayHowToRunTheBenchmarksWhenRunWithoutTheLauncher() {
        assertThat(SluiceCli.commandLine().execute("bench", "engine")).as("exit code").isEqualTo(2);
    }
}
