package io.sluice.cli;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;

import static org.assertj.core.api.Assertions.assertThat;

/** Runs the command line in this JVM and returns what it printed, asserting exit code 0. */
final class CliRun {
    private CliRun() {
    }

    static String run(String... args) {
        ByteArrayOutputStream buffer = new ByteArrayOutputStream();
        PrintStream original = System.out;
        int exit;
        System.setOut(new PrintStream(buffer, true));
        try {
            exit = SluiceCli.commandLine().execute(args);
        } finally {
            System.setOut(original);
        }
        String out = buffer.toString();
        assertThat(exit).as(out).isZero();
        return out;
    }
}
