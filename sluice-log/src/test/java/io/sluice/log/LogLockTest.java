package io.sluice.log;

import io.sluice.log.internal.DirectoryLock;
import io.sluice.log.tools.LogInspector;
import io.sluice.log.tools.LogVerifier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * The directory lock: one process at a time, checked across processes with child JVMs; within one JVM, where the OS
 * lock cannot tell two owners apart (and closing any descriptor on the lock file would drop it), by the lock's own
 * registry; and the shared lock of the tools.
 */
class LogLockTest {
    private static final long SELF = ProcessHandle.current().pid();

    @TempDir
    Path dir;

    /** What another process gets when it tries to open {@code logDir} now: "OPENED ..." or "REFUSED <message>". */
    private String probeFromAnotherProcess(Path logDir) throws Exception {
        try (ChildJvm probe = ChildJvm.start(dir.resolve("probe.err"), LockProbeChild.class, logDir.toString())) {
            assertThat(probe.finish()).as("probe exit code").isZero();
            return probe.lines.stream().filter(l -> l.startsWith("OPENED") || l.startsWith("REFUSED")).findFirst()
                    .orElseThrow(() -> new AssertionError("the probe said nothing: " + probe.lines));
        }
    }

    private static String lockedByUs(Path logDir) {
        return "REFUSED Log directory " + logDir.toAbsolutePath() + " is in use by another process (pid " + SELF
                + ", lock file " + logDir.resolve(".lock").toAbsolutePath() + "); a log directory can be open in one "
                + "process at a time";
    }

    @Test
    void shouldRefuseASecondProcessNamingTheDirectoryAndTheHoldersPid() throws Exception {
        Path logDir = dir.resolve("shared");
        try (ChildJvm holder = ChildJvm.start(dir.resolve("holder.err"), LockHolderChild.class, logDir.toString())) {
            await().atMost(Duration.ofSeconds(60)).until(() -> holder.lines.stream().anyMatch(l -> l.startsWith(
                    "READY")));
            assertThatThrownBy(() -> LogTransport.open(LogSettings.builder(logDir).build()))
                    .isInstanceOf(LogLockedException.class)
                    .hasMessage("Log directory " + logDir.toAbsolutePath() + " is in use by another process (pid "
                            + holder.pid() + ", lock file " + logDir.resolve(".lock").toAbsolutePath() + "); a log "
                            + "directory can be open in one process at a time");
            holder.kill();
        }
        // The OS released the lock with the killed process: the directory opens again.
        LogTransport.open(LogSettings.builder(logDir).build()).close();
    }

    @Test
    void shouldRefuseASecondOpenInThisProcessAndKeepTheFirstOnesLock() throws Exception {
        try (LogTransport first = LogTransport.open(LogSettings.builder(dir).build())) {
            for (int attempt = 0; attempt < 2; attempt++) {
                assertThatThrownBy(() -> LogTransport.open(LogSettings.builder(dir).build()))
                        .isInstanceOf(LogLockedException.class)
                        .hasMessage("Log directory " + dir.toAbsolutePath() + " is already open in this process (pid "
                                + SELF + "); open it once and share the transport");
            }
            // The refused attempts must not have released the first one's OS lock: another process is kept out.
            assertThat(probeFromAnotherProcess(dir)).isEqualTo(lockedByUs(dir));
            assertThat(first.append("still-works", io.sluice.Message.of("x".getBytes(StandardCharsets.UTF_8))).join()
                    .offset()).isZero();
        }
        assertThat(probeFromAnotherProcess(dir)).startsWith("OPENED");
        LogTransport.open(LogSettings.builder(dir).build()).close();
    }

    @Test
    void shouldLetAToolReadALogOpenInThisProcessWithoutTouchingItsLock() throws Exception {
        try (LogTransport log = LogTransport.open(LogSettings.builder(dir).partitions(1).build())) {
            log.append("t", io.sluice.Message.of("x".getBytes(StandardCharsets.UTF_8))).join();
            ByteArrayOutputStream verified = new ByteArrayOutputStream();
            assertThat(LogVerifier.verify(dir, new PrintStream(verified, true, StandardCharsets.UTF_8)).sound())
                    .isTrue();
            ByteArrayOutputStream inspected = new ByteArrayOutputStream();
            LogInspector.inspect(dir, LogInspector.Options.summary(), new PrintStream(inspected, true,
                    StandardCharsets.UTF_8));
            String note = "lock: none, the log is open in this process (pid " + SELF + "); its active segments may "
                    + "change while they are read";
            assertThat(verified.toString(StandardCharsets.UTF_8)).contains(note);
            assertThat(inspected.toString(StandardCharsets.UTF_8)).contains(note);
            assertThat(probeFromAnotherProcess(dir)).isEqualTo(lockedByUs(dir));
        }
    }

    @Test
    void shouldHoldASharedLockWhileAToolReadsSoNoWriterOpensTheLog() throws Exception {
        LogTransport.open(LogSettings.builder(dir).partitions(1).build()).close();
        try (DirectoryLock.ReadAccess reading = DirectoryLock.forReading(dir)) {
            assertThat(reading.lock()).isNotNull();
            assertThat(reading.note()).isNull();
            assertThatThrownBy(() -> LogTransport.open(LogSettings.builder(dir).build()))
                    .isInstanceOf(LogLockedException.class)
                    .hasMessage("Log directory " + dir.toAbsolutePath() + " is being read by a log tool in this "
                            + "process (pid " + SELF + "); open it when the tool is done");
            // The pid in the lock file is the last owner's (this process's), which is alive and holds the shared lock.
            assertThat(probeFromAnotherProcess(dir)).isEqualTo(lockedByUs(dir));
            try (DirectoryLock.ReadAccess second = DirectoryLock.forReading(dir)) {
                assertThat(second.lock()).isNull();
                assertThat(second.note()).isEqualTo("another log tool in this process (pid " + SELF + ") is reading "
                        + "it");
            }
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        LogVerifier.verify(dir, new PrintStream(out, true, StandardCharsets.UTF_8));
        assertThat(out.toString(StandardCharsets.UTF_8))
                .contains("lock: shared (no process can open the log while this runs)");
        assertThat(probeFromAnotherProcess(dir)).startsWith("OPENED");
    }
}
