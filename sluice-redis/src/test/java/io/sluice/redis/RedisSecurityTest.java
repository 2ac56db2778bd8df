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

    private static String stackTrace(Throwable e) {
        java.io.StringWriter w = new java.io.StringWriter();
        e.printStackTrace(new java.io.PrintWriter(w));
        return w.toString();
    }
}
