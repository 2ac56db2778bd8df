package io.sluice.brokers.nats;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class NatsServerTest {

    @Test
    void shouldStartWithJetStreamRestartOnSamePortsAndStopByPid() throws IOException {
        try (NatsServer server = NatsServer.start()) {
            int port = server.port();
            long pid = server.pid();
            assertThat(server.url()).isEqualTo("nats://127.0.0.1:" + port);
            assertThat(greeting(port)).startsWith("INFO ").contains("\"jetstream\":true")
                    .contains("\"host\":\"127.0.0.1\"");
            assertThat(server.directory().resolve("store")).as("JetStream store in the fixture's temporary directory")
                    .isDirectory();
            assertThat(server.directory().getFileName().toString()).startsWith("sluice-nats-");

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

    @Test
    void shouldInstallTheDebianPackageWithAptGetWhenTheBinaryIsMissing(@TempDir Path dir) {
        Path binary = dir.resolve("nats-server");
        java.util.List<java.util.List<String>> commands = new java.util.ArrayList<>();
        String found = NatsServer.ensureInstalled(
                () -> Files.exists(binary) ? java.util.Optional.of(binary) : java.util.Optional.empty(),
                command -> {
                    commands.add(command);
                    if (command.contains("install")) {
                        try {
                            Files.createFile(binary); // what the package would put on the PATH
                        } catch (IOException e) {
                            throw new java.io.UncheckedIOException(e);
                        }
                    }
                });
        assertThat(commands).containsExactly(java.util.List.of("apt-get", "update"),
                java.util.List.of("apt-get", "install", "-y", "--no-install-recommends", "nats-server"));
        assertThat(found).isEqualTo(binary.toString());

        commands.clear();
        NatsServer.ensureInstalled(() -> java.util.Optional.of(binary), commands::add);
        assertThat(commands).as("nothing to install").isEmpty();
    }

    @Test
    void shouldSayWhyWhenTheInstallFails() {
        assertThatThrownBy(() -> NatsServer.run(java.util.List.of("sh", "-c", "echo E: Unable to locate package; exit 100")))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageStartingWith("sh -c echo E: Unable to locate package; exit 100 failed with exit code 100 "
                        + "(is this machine's user root, with Debian package sources?):")
                .hasMessageContaining("E: Unable to locate package");
        assertThatThrownBy(() -> NatsServer.ensureInstalled(java.util.Optional::empty, command -> { }))
                .isInstanceOf(IllegalStateException.class)
                .hasMessage("apt-get installed nats-server but no nats-server binary is on the PATH or in /usr/sbin");
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
