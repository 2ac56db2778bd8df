package io.sluice.cli;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;

import static org.assertj.core.api.Assertions.assertThat;

class DemoCommandTest {

    @TempDir
    Path data;

    private static String run(String... args) {
        return CliRun.run(args);
    }

    @Test
    void shouldRunTheDemoOnTheEmbeddedLogAndResumeOnTheSecondRun() {
        String first = run("demo", "--data", data.toString(), "--messages", "3000", "--keys", "60", "--poison", "4");
        assertThat(first).contains("Sluice demo on transport 'log': data in " + data.toAbsolutePath())
                .contains("first run here")
                .contains("dead-lettered        4 confirmed by the workers, 4 read back from demo.orders.dlq")
                .contains("Check passed");

        String second = run("demo", "--data", data.toString(), "--messages", "2000", "--keys", "60", "--poison", "2");
        assertThat(second).contains("demo.orders already holds 3,000 orders from earlier runs, and group "
                        + "demo-fulfilment resumes at its committed offsets (3,000 of them done)")
                .contains("handled              1,998 (1,998 distinct; redelivered 0)")
                .contains("Check passed");
    }

    @Test
    void shouldServeMetricsWhileTheDemoRunsWhenAsked() {
        String out = run("demo", "--data", data.toString(), "--messages", "500", "--keys", "20", "--poison", "1",
                "--metrics-port", "0");
        assertThat(out).containsPattern("Metrics: http://(127\\.0\\.0\\.1|\\[[0-9a-f:]+\\]):\\d+/metrics").contains("Check passed");
    }
}
