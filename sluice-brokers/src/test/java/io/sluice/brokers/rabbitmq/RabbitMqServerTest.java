package io.sluice.brokers.rabbitmq;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;

import static org.assertj.core.api.Assertions.assertThat;

class RabbitMqServerTest {
    @Test
    void shouldStartOnLoopbackStopCleanlyAndRestartOnTheSamePort() throws Exception {
        try (RabbitMqServer server = RabbitMqServer.start()) {
            int port = server.port();
            assertThat(accepts(port)).as("AMQP port accepts").isTrue();
            assertThat(server.rabbitmqctl("list_vhosts")).contains("/");
            long pid = server.pid();
            server.stop();
            assertThat(server.isRunning()).isFalse();
            assertThat(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)).as("node process gone").isFalse();
            assertThat(accepts(port)).as("AMQP port closed after stop").isFalse();
            server.restart();
            assertThat(server.port()).isEqualTo(port);
            assertThat(accepts(port)).as("AMQP port accepts after restart").isTrue();
        }
    }

    private static boolean accepts(int port) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 500);
            return true;
        } catch (IOException e) {
            return false;
        }
    }
}
