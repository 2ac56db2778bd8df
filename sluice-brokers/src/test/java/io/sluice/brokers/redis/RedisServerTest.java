package io.sluice.brokers.redis;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class RedisServerTest {

    @Test
    void shouldKeepDataAcrossKillAndRestartOnTheSamePortWithAppendOnlyAlways() throws IOException {
        try (RedisServer server = RedisServer.builder().appendOnly("always").start()) {
            int port = server.port();
            long pid = server.pid();
            assertThat(server.uri()).isEqualTo("redis://127.0.0.1:" + port);
            assertThat(server.directory().getFileName().toString()).startsWith("sluice-redis-");
            assertThat(command(port, "SET", "k", "v")).isEqualTo("+OK");

            server.kill();
            assertThat(server.isRunning()).isFalse();
            assertThat(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)).isFalse();

            server.restart();
            assertThat(server.port()).isEqualTo(port);
            assertThat(server.pid()).isNotEqualTo(pid);
            assertThat(command(port, "GET", "k")).as("acknowledged with appendfsync always: survives SIGKILL")
                    .isEqualTo("$1\r\nv");

            server.stop();
            assertThat(server.pid()).isEqualTo(-1);
        }
    }

    /**
     * What docs/redis.md says of {@code appendfsync no}: the AOF is written to the OS before the reply, so a SIGKILL of
     * the server loses nothing. (Not so with {@code everysec}: while a background fsync is slow, Redis postpones
     * writing the AOF for up to 2 s and replies meanwhile; here 98 of 100 acknowledged writes were lost that way.)
     */
    @Test
    void shouldKeepAcknowledgedWritesAcrossSigkillWithAppendfsyncNo() throws IOException {
        try (RedisServer server = RedisServer.builder().appendOnly("no").start()) {
            for (int i = 0; i < 100; i++) {
                assertThat(command(server.port(), "RPUSH", "list", "v" + i)).isEqualTo(":" + (i + 1));
            }
            server.kill();
            server.restart();
            assertThat(command(server.port(), "LLEN", "list")).isEqualTo(":100");
        }
    }

    @Test
    void shouldRequireTheAclUserAndKeepThePasswordOffTheCommandLine() throws IOException {
        try (RedisServer server = RedisServer.builder().user("app", "s3cret-pw").start()) {
            assertThat(command(server.port(), "PING")).startsWith("-NOAUTH");
            assertThat(command(server.port(), "AUTH", "app", "wrong")).startsWith("-WRONGPASS");
            String cmdline = ProcessHandle.of(server.pid()).flatMap(h -> h.info().commandLine()).orElse("");
            assertThat(cmdline).isNotEmpty().doesNotContain("s3cret-pw");
            assertThat(Files.readString(server.directory().resolve("redis.conf"))).contains("user app on");
        }
    }

    @Test
    void shouldRejectAnUnknownFsyncPolicy() {
        assertThatThrownBy(() -> RedisServer.builder().appendOnly("sometimes"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("appendfsync must be always, everysec or no, was sometimes");
    }

    /** Sends one RESP command and returns the first reply, without its last CRLF. */
    private static String command(int port, String... args) throws IOException {
        try (Socket s = new Socket("127.0.0.1", port)) {
            s.setSoTimeout(5000);
            StringBuilder resp = new StringBuilder("*").append(args.length).append("\r\n");
            for (String a : args) {
                resp.append('$').append(a.getBytes(StandardCharsets.UTF_8).length).append("\r\n").append(a)
                        .append("\r\n");
            }
            OutputStream out = s.getOutputStream();
            out.write(resp.toString().getBytes(StandardCharsets.UTF_8));
            out.flush();
            InputStream in = s.getInputStream();
            byte[] buf = new byte[256];
            int n = in.read(buf);
            String reply = new String(buf, 0, n, StandardCharsets.UTF_8);
            if (reply.startsWith("$") && reply.indexOf("\r\n") == reply.length() - 2) { // bulk header only so far
                n += in.read(buf, n, buf.length - n);
                reply = new String(buf, 0, n, StandardCharsets.UTF_8);
            }
            return reply.endsWith("\r\n") ? reply.substring(0, reply.length() - 2) : reply;
        }
    }
}
