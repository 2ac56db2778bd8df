package io.sluice.log;

import io.sluice.Message;
import io.sluice.PublishException;
import io.sluice.Receipt;
import io.sluice.log.internal.FileIo;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The first publish to a topic that does not exist yet creates it (directories and their fsyncs, on the log's own
 * platform thread). The publishing thread - often a handler's virtual thread sending its topic's first dead letter -
 * must not wait for that: its future completes once the topic exists and the record is stored, or fails within the
 * publish timeout.
 */
class LogTopicCreationTest {
    @TempDir
    Path dir;

    /** Holds the creation of topic directories whose name starts with "slow" until released. */
    private final CountDownLatch creation = new CountDownLatch(1);

    @AfterEach
    void release() {
        creation.countDown();
    }

    private final FileIo gated = new FileIo() {
        @Override
        public FileChannel open(Path file, OpenOption... options) throws IOException {
            return FileIo.DEFAULT.open(file, options);
        }

        @Override
        public void forceDirectory(Path d) throws IOException {
            FileIo.DEFAULT.forceDirectory(d);
        }

        @Override
        public void createDirectories(Path d) throws IOException {
            if (d.getFileName().toString().startsWith("slow")) {
                try {
                    creation.await(60, TimeUnit.SECONDS); // a disk that takes its time; released by the test
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IOException("interrupted", e);
                }
            }
            FileIo.DEFAULT.createDirectories(d);
        }

        @Override
        public void replace(Path source, Path target) throws IOException {
            FileIo.DEFAULT.replace(source, target);
        }

        @Override
        public boolean deleteIfExists(Path file) throws IOException {
            return FileIo.DEFAULT.deleteIfExists(file);
        }
    };

    private LogTransport open() {
        return LogTransport.open(LogSettings.builder(dir).partitions(1).build(), gated);
    }

    /** Publishes from virtual threads, one per topic, and returns their futures once every thread has returned. */
    private List<CompletableFuture<Receipt>> publishFromVirtualThreads(LogTransport log, Duration timeout,
                                                                       String... topics) {
        List<AtomicReference<CompletableFuture<Receipt>>> sent = new ArrayList<>();
        List<Thread> threads = new ArrayList<>();
        for (String topic : topics) {
            AtomicReference<CompletableFuture<Receipt>> ref = new AtomicReference<>();
            sent.add(ref);
            threads.add(Thread.ofVirtual().start(() -> ref.set(
                    log.append(topic, Message.of("k", "first letter of " + topic), timeout))));
        }
        await("every publishing thread returned while the topics are created").atMost(Duration.ofSeconds(20))
                .until(() -> threads.stream().noneMatch(Thread::isAlive));
        assertThat(creation.getCount()).as("topic creation is still held").isEqualTo(1);
        return sent.stream().map(AtomicReference::get).toList();
    }

    @Test
    void shouldReturnAtOnceAndFailWithinThePublishTimeoutWhileANewTopicCannotBeCreated() {
        try (LogTransport log = open()) {
            List<CompletableFuture<Receipt>> futures = publishFromVirtualThreads(log, Duration.ofMillis(200),
                    "slow-a", "slow-b", "slow-c", "slow-d");
            for (CompletableFuture<Receipt> f : futures) {
                await().atMost(Duration.ofSeconds(20)).until(f::isDone);
                assertThat(f).isCompletedExceptionally();
                assertThat(f.exceptionNow()).isInstanceOf(PublishException.class)
                        .hasMessageContaining("was not created within the publish timeout (200ms, publisher.publishTimeout)")
                        .hasMessageContaining("not written");
            }
            assertThat(creation.getCount()).as("they failed while the creation was still held").isEqualTo(1);

            creation.countDown();
            Receipt next = log.append("slow-a", Message.of("k", "later"), Duration.ofSeconds(30)).join();
            assertThat(next.offset()).as("the publish that timed out was not written").isZero();
            assertThat(log.read("slow-a", 0, 0, 10)).singleElement()
                    .satisfies(r -> assertThat(r.message().payloadAsString()).isEqualTo("later"));
        }
    }

    @Test
    void shouldCompleteAPublishThatWaitedForItsTopicOnceTheTopicIsCreated() {
        try (LogTransport log = open()) {
            List<CompletableFuture<Receipt>> futures = publishFromVirtualThreads(log, Duration.ofSeconds(30),
                    "slow-x");
            CompletableFuture<Receipt> f = futures.get(0);
            assertThat(f).as("nothing can be stored before the topic exists").isNotDone();
            CompletableFuture<Receipt> second = log.append("slow-x", Message.of("k", "second"), Duration.ofSeconds(30));

            creation.countDown();
            assertThat(f.join().offset()).isZero();
            assertThat(second.join().offset()).isEqualTo(1);
            assertThat(log.read("slow-x", 0, 0, 10)).extracting(r -> r.message().payloadAsString())
                    .containsExactly("first letter of slow-x", "second");
        }
    }
}
