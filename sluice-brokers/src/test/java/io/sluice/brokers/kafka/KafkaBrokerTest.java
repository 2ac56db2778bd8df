package io.sluice.brokers.kafka;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

@Timeout(value = 3, unit = TimeUnit.MINUTES)
class KafkaBrokerTest {

    private static int nodes(String bootstrap) throws Exception {
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap))) {
            return admin.describeCluster().nodes().get(60, TimeUnit.SECONDS).size();
        }
    }

    @Test
    void shouldServeOnSamePortAfterRestartAndLeaveNothingBehindOnClose() throws Exception {
        KafkaBroker broker = KafkaBroker.start();
        try {
            assertThat(broker.bootstrapServers()).startsWith("127.0.0.1:");
            assertThat(nodes(broker.bootstrapServers())).isEqualTo(1);
            String before = broker.bootstrapServers();
            broker.restart();
            assertThat(broker.bootstrapServers()).isEqualTo(before);
            assertThat(nodes(broker.bootstrapServers())).isEqualTo(1);
        } finally {
            broker.close();
        }
        assertThat(broker.isRunning()).isFalse();
        assertThat(broker.directory()).doesNotExist();
        String[] hostPort = broker.bootstrapServers().split(":");
        assertThatThrownBy(() -> {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress(hostPort[0], Integer.parseInt(hostPort[1])), 1000);
            }
        }).as("nothing listens after close").isInstanceOf(java.io.IOException.class);
    }

    @Test
    void shouldComeBackOnTheSamePortAfterAKill() throws Exception {
        try (KafkaBroker broker = KafkaBroker.start()) {
            broker.kill();
            assertThat(broker.isRunning()).isFalse();
            broker.resume();
            assertThat(broker.isRunning()).isTrue();
            assertThat(nodes(broker.bootstrapServers())).isEqualTo(1);
        }
    }

    @Test
    void shouldStartOnOtherPortsWhenItsPortIsTakenBeforeItBinds() throws Exception {
        try (ServerSocket squatter = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            // As if another process took the free port between the fixture choosing it and the broker binding it.
            try (KafkaBroker broker = KafkaBroker.builder().preferredPlaintextPort(squatter.getLocalPort()).start()) {
                assertThat(broker.bindFailures()).as("starts that found the port taken").isEqualTo(1);
                assertThat(broker.bootstrapServers()).isNotEqualTo("127.0.0.1:" + squatter.getLocalPort());
                assertThat(nodes(broker.bootstrapServers())).isEqualTo(1);
            }
        }
    }

    @Test
    void shouldWaitForItsPortWhenResumingWhileAnotherProcessHoldsIt() throws Exception {
        try (KafkaBroker broker = KafkaBroker.start()) {
            String address = broker.bootstrapServers();
            int port = Integer.parseInt(address.substring(address.lastIndexOf(':') + 1));
            broker.stop();
            CompletableFuture<Void> resumed;
            try (ServerSocket squatter = new ServerSocket(port, 1, InetAddress.getLoopbackAddress())) {
                resumed = CompletableFuture.runAsync(broker::resume);
                await().atMost(Duration.ofSeconds(60)).until(() -> broker.bindFailures() > 0 || resumed.isDone());
                assertThat(resumed).as("resume while the port is taken").isNotDone();
            }
            resumed.get(90, TimeUnit.SECONDS);
            assertThat(broker.bootstrapServers()).isEqualTo(address);
            assertThat(nodes(address)).isEqualTo(1);
        }
    }

    @Test
    void shouldStopAndDeleteItsDirectoryWhenTheJvmThatStartedItDies() throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process parent = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
                OrphanBrokerMain.class.getName()).redirectErrorStream(true).start();
        try {
            Path dir = null;
            BufferedReader out = new BufferedReader(new InputStreamReader(parent.getInputStream(),
                    StandardCharsets.UTF_8));
            for (String line = out.readLine(); line != null; line = out.readLine()) {
                if (line.startsWith("BROKER-DIR ")) {
                    dir = Path.of(line.substring("BROKER-DIR ".length()));
                    break;
                }
            }
            assertThat(dir).as("the broker directory the parent reported").isNotNull().exists();
            parent.destroyForcibly().waitFor(30, TimeUnit.SECONDS); // SIGKILL: no shutdown hook of the parent runs
            Path brokerDir = dir;
            await().atMost(Duration.ofSeconds(60)).until(() -> !Files.exists(brokerDir));
        } finally {
            parent.destroyForcibly();
        }
    }

    @Test
    void shouldNotPrintTlsPassword() throws Exception {
        TlsMaterial tls = TlsMaterial.generate(java.nio.file.Files.createTempDirectory("tls-test"));
        assertThat(tls.keyStore()).exists();
        assertThat(tls.trustStore()).exists();
        assertThat(tls.toString()).doesNotContain(tls.password()).contains("[hidden]");
    }
}
