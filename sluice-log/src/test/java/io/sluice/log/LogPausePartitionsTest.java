package io.sluice.log;

import io.sluice.spi.Transport;
import io.sluice.testkit.PausePartitionsContractTest;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

/** Per-partition pause on the embedded log, in a fresh directory with the default settings. */
class LogPausePartitionsTest extends PausePartitionsContractTest {
    @TempDir
    Path dir;

    @Override
    protected Transport createTransport() {
        return LogTransport.open(LogSettings.builder(dir).build());
    }
}
