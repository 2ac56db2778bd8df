package io.sluice.cli.log;

import io.sluice.Message;
import io.sluice.cli.SluiceCli;
import io.sluice.log.LogSettings;
import io.sluice.log.LogTransport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

import static org.assertj.core.api.Assertions.assertThat;

/** {@code sluice log inspect} and {@code sluice log verify} on a real log directory. */
class LogCommandTest {
    @TempDir
    Path dir;

    private record Run(int exit, String out) {
    }

    private static Run run(String... args) {
        ByteArrayOutputStream buffer = new ByteArrayOutputStream();
        PrintStream original = System.out;
        int exit;
        System.setOut(new PrintStream(buffer, true, StandardCharsets.UTF_8));
        try {
            exit = SluiceCli.commandLine().execute(args);
        } finally {
            System.setOut(original);
        }
        return new Run(exit, buffer.toString(StandardCharsets.UTF_8));
    }

    private void writeLog() {
        try (LogTransport log = LogTransport.open(LogSettings.builder(dir).partitions(2).build())) {
            for (int i = 0; i < 50; i++) {
                log.append("orders", Message.builder().key("k" + i).payload("order " + i).header("n", "" + i)
                        .build()).join();
            }
            log.seekGroup("orders", "billing", java.util.Map.of(0, 3L));
        }
    }

    @Test
    void shouldInspectSegmentsBatchesAndRecords() {
        writeLog();
        Run run = run("log", "inspect", dir.toString(), "--records", "--partition", "0");
        assertThat(run.exit()).isZero();
        assertThat(run.out()).contains("topic orders: 2 partitions")
                .contains("group billing: committed 0=3 1=-")
                .contains("partition 0: 1 segment")
                .contains("segment 00000000000000000000.log: offsets 0..")
                .contains("batch at byte 0: offsets 0..0 (1 record)")
                .containsPattern("offset 0: \\S+ key=\"k\\d+\" id=\\S+ headers=\\{n=\\d+} value=\\d+ bytes \"order \\d+\"")
                .doesNotContain("partition 1:");
    }

    @Test
    void shouldVerifyASoundLogWithExitCodeZeroAndADamagedOneWithOne() throws IOException {
        writeLog();
        Run sound = run("log", "verify", dir.toString());
        assertThat(sound.exit()).as(sound.out()).isZero();
        assertThat(sound.out()).contains("orders/0: 1 segment, offsets 0..").contains("the log is sound");

        Path segment = dir.resolve("orders").resolve("1").resolve("00000000000000000000.log");
        try (FileChannel ch = FileChannel.open(segment, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(1);
            ch.read(b, 60);
            b.put(0, (byte) (b.get(0) ^ 0x10)).rewind();
            ch.write(b, 60);
        }
        Run damaged = run("log", "verify", dir.toString());
        assertThat(damaged.exit()).isEqualTo(LogCommand.PROBLEMS);
        assertThat(damaged.out()).contains("problem: orders/1 00000000000000000000.log at byte 0 (offset 0): body CRC "
                + "mismatch").contains("1 problem found");
    }

    @Test
    void shouldInspectADamagedLogWithExitCodeOneAndSayWhereReadableBatchesResume() throws IOException {
        writeLog();
        Path segment = dir.resolve("orders").resolve("1").resolve("00000000000000000000.log");
        long second;
        try (FileChannel ch = FileChannel.open(segment, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            java.nio.ByteBuffer header = java.nio.ByteBuffer.allocate(8);
            ch.read(header, 0);
            second = header.getInt(4); // the first batch's length: where the second batch starts
            java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(1);
            ch.read(b, 1);
            b.put(0, (byte) (b.get(0) ^ 0x10)).rewind();
            ch.write(b, 1); // the first batch's magic
        }
        Run damaged = run("log", "inspect", dir.toString());
        assertThat(damaged.exit()).as(damaged.out()).isEqualTo(LogCommand.PROBLEMS);
        assertThat(damaged.out()).contains("damaged at byte 0 (offset 0): bad magic")
                .contains("readable batches resume at offset 1 (byte " + second + ")")
                .contains("1 damaged region found");
        Run verified = run("log", "verify", dir.toString());
        assertThat(verified.exit()).isEqualTo(LogCommand.PROBLEMS);
        assertThat(verified.out()).contains("orders/1 00000000000000000000.log at byte 0 (offset 0): bad magic")
                .contains("recovery cuts the log from here on the next open, with the sound batches after it (from "
                        + "offset 1, byte " + second + ")");
    }

    @Test
    void shouldExitTwoForADirectoryThatIsNotThere() {
        Run run = run("log", "verify", dir.resolve("missing").toString());
        assertThat(run.exit()).isEqualTo(LogCommand.UNREADABLE);
    }
}
