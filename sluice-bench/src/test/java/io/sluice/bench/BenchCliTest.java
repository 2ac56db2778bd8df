package io.sluice.bench;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import static org.assertj.core.api.Assertions.assertThat;

class BenchCliTest {
    @Test
    void shouldListEveryBenchmarkAsASubcommand() {
        CommandLine cli = BenchCli.commandLine();
        assertThat(cli.getSubcommands()).containsKeys("engine", "micro", "kafka", "nats", "log");
    }
}
