package io.sluice.brokers.nats;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

class NatsServerTest {

    @Test
    void shouldStartWithJetStreamRestartOnSamePortsAndStopByPid() throws IOException {
        try (NatsServer server = NatsServer.start()) {
            int port = server.port();
            long pid = server.pid();
            assertThat(server.url()).isEqualTo("nats://127.0.0.1:" + port);
            assertThat(greeting(port)).startsWith("INFO ").contains("\"jetstream\":true");

            server.kill();
            assertThat(server.isRunning()).isFalse();
            assertThat(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)).isFalse();

            server.restart();
            assertThat(server.port()).isEqualTo(port);
            assertThat(server.pid()).isNotEqualTo(pid);
            assertThat(greeting(port)).contains("\"jetstream\":true");
            Path store = server.directory().resolve("store");
            assertThat(Files.isDirectory(store)).isTrue();

            server.stop();
            assertThat(server.pid()).isEqualTo(-1);
        }
    }

    @Test
    void shouldServeTlsWithGeneratedCertificatesAndRequireToken(@TempDir Path dir) throws IOException {
        TlsMaterial tls = TlsMaterial.generate(dir.resolve("tls"));
        assertThat(Files.readString(tls.serverKey())).startsWith("-----BEGIN PRIVATE KEY-----");
        try (NatsServer server = NatsServer.builder().tls(tls.serverCertificate(), tls.serverKey())
                .token("s3cret").start()) {
            assertThat(server.url()).startsWith("tls://127.0.0.1:");
            String info = greeting(server.port());
            assertThat(info).contains("\"tls_required\":true").contains("\"auth_required\":true");
            assertThat(info).doesNotContain("s3cret");
        }
    }

    private static String greeting(int port) throws IOException {
        try (Socket s = new Socket("127.0.0.1", port)) {
            s.setSoTimeout(5000);
            byte[] buf = new byte[4096];
            int n = s.getInputStream().read(buf);
            return new String(buf, 0, Math.max(n, 0), StandardCharsets.UTF_8);
        }
    }
}
