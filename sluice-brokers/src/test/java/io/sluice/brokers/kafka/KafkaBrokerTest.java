package io.sluice.brokers.kafka;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

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
    void shouldNotPrintTlsPassword() throws Exception {
        TlsMaterial tls = TlsMaterial.generate(java.nio.file.Files.createTempDirectory("tls-test"));
        assertThat(tls.keyStore()).exists();
        assertThat(tls.trustStore()).exists();
        assertThat(tls.toString()).doesNotContain(tls.password()).contains("[hidden]");
    }
}
