package io.sluice.redis;

import io.sluice.Message;
import io.sluice.Sluice;
import io.sluice.brokers.redis.RedisServer;
import io.sluice.config.SluiceConfig;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/** An ACL user on a redis-server whose default user is disabled. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class RedisSecurityTest {
    private static RedisServer server;

    @BeforeAll
    static void start() {
        server = RedisServer.builder().user("app", "s3cret-pw").start();
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    @Test
    void shouldPublishAndConsumeAsTheAclUser() {
        RedisSettings settings = RedisTestServer.settings(server).credentials("app", "s3cret-pw".toCharArray()).build();
        assertThat(settings.toString()).contains("app(****)").doesNotContain("s3cret-pw");
        List<String> got = new CopyOnWriteArrayList<>();
        try (Sluice sluice = Sluice.create(new RedisTransport(settings), SluiceConfig.of("redis"))) {
            sluice.subscribe("secure", "g", m -> got.add(m.payloadAsString()));
            sluice.publisher().publish("secure", Message.of("k", "hello")).join();
            await().atMost(Duration.ofSeconds(30)).until(() -> got.contains("hello"));
        }
    }

    @Test
    void shouldFailToConnectWithAWrongPasswordWithoutShowingIt() {
        RedisSettings settings = RedisTestServer.settings(server).credentials("app", "not-the-pw".toCharArray())
                .build();
        assertThatThrownBy(() -> new RedisTransport(settings).close())
                .hasStackTraceContaining("WRONGPASS")
                .satisfies(e -> assertThat(stackTrace(e)).doesNotContain("not-the-pw"));
    }

    @Test
    void shouldPublishAndConsumeOverTlsTrustingTheServersCaAndRefuseAnUntrustedServer(
            @org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) {
        io.sluice.brokers.nats.TlsMaterial tls = io.sluice.brokers.nats.TlsMaterial.generate(dir.resolve("tls"));
        try (RedisServer tlsServer = RedisServer.builder()
                .tls(tls.serverCertificate(), tls.serverKey(), tls.caCertificate())
                .user("app", "s3cret-pw").start()) {
            assertThat(tlsServer.uri()).startsWith("rediss://127.0.0.1:");
            RedisSettings settings = RedisSettings.from(new io.sluice.config.ConfigSection("redis", java.util.Map.of(
                    "uri", tlsServer.uri(), "tlsCaFile", tls.caCertificate().toString(),
                    "user", "app", "password", "s3cret-pw", "sessionTimeout", "2s", "heartbeatInterval", "100ms",
                    "claimIdle", "300ms")));
            assertThat(settings.tls()).isTrue();
            List<String> got = new CopyOnWriteArrayList<>();
            try (Sluice sluice = Sluice.create(new RedisTransport(settings), SluiceConfig.of("redis"))) {
                sluice.subscribe("secure-tls", "g", m -> got.add(m.payloadAsString()));
                sluice.publisher().publish("secure-tls", Message.of("k", "over tls")).join();
                await().atMost(Duration.ofSeconds(30)).until(() -> got.contains("over tls"));
            }

            RedisSettings untrusting = RedisSettings.builder().uri(tlsServer.uri())
                    .credentials("app", "s3cret-pw".toCharArray()).commandTimeout(Duration.ofSeconds(5)).build();
            assertThatThrownBy(() -> new RedisTransport(untrusting).close())
                    .hasStackTraceContaining("PKIX path building failed");
        }
    }

    private static String stackTrace(Throwable e) {
        java.io.StringWriter w = new java.io.StringWriter();
        e.printStackTrace(new java.io.PrintWriter(w));
        return w.toString();
    }
}
