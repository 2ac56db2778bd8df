package io.sluice.cli;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;

import static org.assertj.core.api.Assertions.assertThat;

class DemoCommandTest {

    @Test
    void shouldRunTheDemoAndPassItsOwnCheck() {
        ByteArrayOutputStream buffer = new ByteArrayOutputStream();
        PrintStream original = System.out;
        int exit;
        System.setOut(new PrintStream(buffer, true));
        try {
            exit = SluiceCli.commandLine().execute("demo", "--messages", "3000", "--keys", "60", "--poison", "4",
                    "--max-seconds", "60");
        } finally {
            System.setOut(original);
        }
        String out = buffer.toString();
        assertThat(exit).as(out).isZero();
        assertThat(out).contains("dead-lettered        4 confirmed by the workers, 4 read back from demo.orders.dlq")
                .contains("Check passed");
    }

    @Test
    void shouldListBenchmarksUnderBench() {
        CommandLine cli = SluiceCli.commandLine();
        assertThat(cli.getSubcommands().get("bench").getSubcommands()).containsKey("engine");
    }
}
