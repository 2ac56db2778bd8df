package io.sluice.log;

import io.sluice.spi.Transport;
import io.sluice.testkit.TransportContractTest;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Map;

/** The whole contract suite on the embedded log, each test in a fresh directory with the default settings. */
class LogTransportContractTest extends TransportContractTest {
    @TempDir
    Path dir;

    @Override
    protected Transport createTransport() {
        return LogTransport.open(LogSettings.builder(dir).build());
    }

    @Override
    protected InvalidSetting invalidSetting() {
        return new InvalidSetting("log", Map.of("dir", dir.toString(), "fsync", "sometimes"), "log.fsync");
    }
}
