package io.sluice.internal.engine;

import io.sluice.Handler;
import io.sluice.Message;
import io.sluice.config.ConsumerOptions;
import io.sluice.config.PublisherOptions;
import io.sluice.config.RetryPolicy;
import io.sluice.internal.publish.BoundedPublisher;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** The engine on offset-committing transports: commit watermarks, failed background commits, per-partition pause. */
class ConsumerEngineOffsetsTest {
    private ConsumerEngine engine;
    private final CountDownLatch endOfTest = new CountDownLatch(1);

    @AfterEach
    void close() {
        endOfTest.countDown();
        if (engine != null) {
            engine.close(Duration.ofSeconds(5));
        }
    }

    private ConsumerEngine start(ScriptedTransport transport, Handler handler, ConsumerOptions options) {
        BoundedPublisher publisher = new BoundedPublisher(transport.producer(), PublisherOptions.defaults());
        engine = new ConsumerEngine(transport, "orders", "g", "m-1", m -> {
            handler.handle(m);
            transport.finished(m);
        }, options, publisher, EngineObserver.NONE);
        return engine;
    }

    private static ConsumerOptions.Builder options() {
        return ConsumerOptions.builder().retry(RetryPolicy.builder().initialDelay(Duration.ofMillis(5))
                .maxDelay(Duration.ofMillis(10)).maxAttempts(3).build()).commitInterval(Duration.ofMillis(10));
    }

    private static Message keyless(String payload) {
        return Message.builder().payload(payload).build();
    }

    @Test
    void shouldCommitEveryPartitionToItsEndWithoutEverPassingUnfinishedWork() {
        ScriptedTransport t = ScriptedTransport.offsets(3);
        start(t, m -> TimeUnit.MICROSECONDS.sleep(ThreadLocalRandom.current().nextInt(3000)),
                options().maxInFlight(16).build());
        for (int i = 0; i < 300; i++) {
            t.offer(i % 3, Message.of("key-" + (i % 17), "m" + i));
        }
        await().until(() -> t.committed(0) == 100 && t.committed(1) == 100 && t.committed(2) == 100);
        assertThat(t.violations).as("commits past a message the handler had not finished").isEmpty();
        assertThat(engine.close(Duration.ofSeconds(5))).isTrue();
        engine = null;
        assertThat(t.violations).isEmpty();
    }

    @Test
    void shouldSendABackgroundCommitAgainWhenItFailed() {
        ScriptedTransport t = ScriptedTransport.offsets(1);
        t.asyncCommitFailures.set(1);
        start(t, m -> { }, options().build());
        t.offer(0, Message.of("k", "only"));
        await().until(() -> t.committed(0) == 1);
        assertThat(t.commits).as("the lost commit, then the same offsets again")
                .extracting(ScriptedTransport.CommitCall::stored).startsWith(false, true);
        assertThat(t.violations).isEmpty();
    }

    @Test
    void shouldCoverUnconfirmedOffsetsInTheFinalCommit() {
        ScriptedTransport t = ScriptedTransport.offsets(2);
        t.asyncCommitFailures.set(Integer.MAX_VALUE); // no background commit is ever stored
        start(t, m -> { }, options().build());
        t.offer(0, Message.of("a", "1"));
        t.offer(1, Message.of("b", "2"));
        t.offer(1, Message.of("b", "3"));
        await().until(() -> engine.stats().handled() == 3 && t.commits.size() >= 2);
        assertThat(engine.close(Duration.ofSeconds(5))).isTrue();
        engine = null;
        assertThat(t.committed).as("the synchronous commit on close covers what was never confirmed")
                .containsEntry(0, 1L).containsEntry(1, 2L);
        assertThat(t.commits.get(t.commits.size() - 1).sync()).isTrue();
    }

    @Test
    void shouldPauseOnlyTheStuckPartitionAndReportItStalled() {
        ScriptedTransport t = ScriptedTransport.offsets(2);
        CountDownLatch unstick = new CountDownLatch(1);
        start(t, m -> {
            if (m.payloadAsString().equals("stuck")) {
                unstick.await(); // e.g. a dead letter whose publish keeps failing
            }
        }, options().maxInFlight(8).maxUncommittedPerPartition(16).stallWarning(Duration.ofMillis(50)).build());
        long stuck = t.offer(0, keyless("stuck"));
        for (int i = 0; i < 30; i++) {
            t.offer(0, keyless("p0-" + i));
        }
        await().until(() -> t.pauseEvents.contains("pause 0"));
        for (int i = 0; i < 40; i++) {
            t.offer(1, keyless("p1-" + i));
        }
        await().until(() -> t.committed(1) == 40);
        long fetchedFromStuck = t.delivered.stream().filter(d -> d.startsWith("0:")).count();
        assertThat(fetchedFromStuck).as("partition 0 stopped at its window (16) plus at most one fetch (8)")
                .isLessThanOrEqualTo(24).isLessThan(31);
        assertThat(events(t, 0)).as("the saturated partition was paused").containsExactly("pause 0");
        // Partition 1 may fill its window for a moment on a loaded machine (a slow message with 15 finished above
        // it), but it is never left paused.
        assertThat(events(t, 1)).as("partition 1 resumed after every pause")
                .satisfies(e -> assertThat(e.stream().filter(x -> x.startsWith("pause")).count())
                        .isEqualTo(e.stream().filter(x -> x.startsWith("resume")).count()));
        await().until(() -> engine.stats().stalledPartitions().containsKey(0));
        assertThat(engine.stats().stalledPartitions()).containsExactly(java.util.Map.entry(0, stuck));
        assertThat(t.committed(0)).as("nothing committed past the stuck message").isLessThanOrEqualTo(0);

        unstick.countDown();
        await().until(() -> t.committed(0) == 31);
        assertThat(events(t, 0)).containsExactly("pause 0", "resume 0");
        await().until(() -> engine.stats().stalledPartitions().isEmpty());
        assertThat(t.violations).isEmpty();
    }

    private static List<String> events(ScriptedTransport t, int partition) {
        return t.pauseEvents.stream().filter(e -> e.endsWith(" " + partition)).toList();
    }

    @Test
    void shouldCommitAsTheWatermarkMovesWhenCommitsAreCheap() {
        ScriptedTransport t = ScriptedTransport.cheapOffsets(1);
        start(t, m -> { }, options().commitInterval(Duration.ofHours(1)).build());
        for (int i = 0; i < 5; i++) {
            t.offer(0, Message.of("k", "m" + i));
            long next = i + 1;
            await().until(() -> t.committed(0) == next);
        }
        assertThat(t.violations).isEmpty();
    }

    @Test
    void shouldNotResendAFailingCheapCommitOnEveryLoopTurnButAfterTheCommitInterval() {
        ScriptedTransport t = ScriptedTransport.cheapOffsets(1);
        t.asyncCommitFailures.set(Integer.MAX_VALUE); // e.g. a full disk: every background commit fails
        start(t, m -> { }, options().commitInterval(Duration.ofHours(1)).build());
        for (int i = 0; i < 50; i++) { // one at a time: the owner loop turns, and the watermark moves, each time
            t.offer(0, Message.of("k", "m" + i));
            long handled = i + 1;
            await().until(() -> engine.stats().handled() == handled);
        }

        assertThat(t.commits).as("one failed background commit, then quiet until the commit interval")
                .filteredOn(c -> !c.sync()).hasSize(1);
        assertThat(engine.close(Duration.ofSeconds(5))).isTrue();
        assertThat(t.committed(0)).as("the final synchronous commit covers what failed").isEqualTo(50);
        engine = null;
    }

    @Test
    void shouldCoalesceCheapCommitsWhileOneIsUnansweredAndSendTheNextWhenItsAnswerComesFromAnotherThread() {
        ScriptedTransport t = ScriptedTransport.cheapOffsets(1);
        t.commitsAnsweredLater = true;
        start(t, m -> { }, options().commitInterval(Duration.ofHours(1)).build());
        t.offer(0, Message.of("k", "m0"));
        await().until(() -> t.laterCommits.size() == 1);
        for (int i = 1; i < 10; i++) {
            t.offer(0, Message.of("k", "m" + i));
        }
        await().until(() -> engine.stats().handled() == 10);
        int polls = t.polls.get();
        await().until(() -> t.polls.get() >= polls + 3); // the owner loop turned with the watermark at 10

        assertThat(t.laterCommits).as("nothing more is sent while one commit is unanswered").hasSize(1);
        t.answer(0, true); // on this thread: the engine's owner must be woken to go on

        await().until(() -> t.laterCommits.size() == 2);
        assertThat(t.laterCommits.get(1).offsets()).as("all that finished meanwhile, in one commit")
                .isEqualTo(Map.of(0, 10L));
        t.answer(1, true);
        assertThat(engine.close(Duration.ofSeconds(5))).isTrue();
        engine = null;
        assertThat(t.committed(0)).isEqualTo(10);
        assertThat(t.violations).isEmpty();
    }

    @Test
    void shouldNotSendAConfirmedWatermarkAgainWhenAnOlderCommitFailsAfterANewerOneSucceeded() {
        ScriptedTransport t = ScriptedTransport.offsets(1);
        t.commitsAnsweredLater = true;
        start(t, m -> { }, options().build()); // periodic commits every 10 ms, whether or not one is unanswered
        t.offer(0, Message.of("k", "m0"));
        await().until(() -> t.laterCommits.size() == 1);
        t.offer(0, Message.of("k", "m1"));
        await().until(() -> t.laterCommits.size() == 2);
        assertThat(t.laterCommits.get(1).offsets()).isEqualTo(Map.of(0, 2L));

        t.answer(1, true); // answers out of order, from this thread
        t.answer(0, false);
        int polls = t.polls.get();
        await().until(() -> t.polls.get() >= polls + 20); // many periodic commit turns

        assertThat(t.laterCommits).as("the older failure does not undo the newer confirmation").hasSize(2);
        assertThat(engine.close(Duration.ofSeconds(5))).isTrue();
        engine = null;
        assertThat(t.commits).as("nothing unconfirmed is left for the final synchronous commit")
                .noneMatch(ScriptedTransport.CommitCall::sync);
        assertThat(t.committed(0)).isEqualTo(2);
    }

    @Test
    void shouldSendAFailedWatermarkAgainAndCoverItOnCloseWhenTheAnswerComesLater() {
        ScriptedTransport t = ScriptedTransport.offsets(1);
        t.commitsAnsweredLater = true;
        start(t, m -> { }, options().build());
        t.offer(0, Message.of("k", "m0"));
        await().until(() -> t.laterCommits.size() == 1);
        t.answer(0, false);

        await().until(() -> t.laterCommits.size() == 2);
        assertThat(t.laterCommits.get(1).offsets()).as("sent again").isEqualTo(Map.of(0, 1L));
        assertThat(engine.close(Duration.ofSeconds(5))).isTrue(); // the resend is still unanswered
        engine = null;
        assertThat(t.commits).filteredOn(ScriptedTransport.CommitCall::sync).singleElement()
                .satisfies(c -> assertThat(c.offsets()).isEqualTo(Map.of(0, 1L)));
        assertThat(t.committed(0)).isEqualTo(1);
    }

    @Test
    void shouldIgnoreTheLateAnswerOfACommitSentForAPartitionBeforeItWasLostAndAssignedAgain() {
        ScriptedTransport t = ScriptedTransport.offsets(1);
        t.commitsAnsweredLater = true;
        start(t, m -> { }, options().build());
        Message m0 = Message.of("k", "m0").withDefaults(System.currentTimeMillis());
        t.offer(0, m0);
        await().until(() -> t.laterCommits.size() == 1); // {0=1}, sent for the partition's first assignment
        t.loseAndReassignNext = true;
        t.inbound.add(new ScriptedTransport.Inbound(null, -1, 0)); // wakes a poll that waits for records
        await().until(() -> !t.loseAndReassignNext);
        t.inbound.add(new ScriptedTransport.Inbound(m0, 0, 0, 2)); // redelivered: the loss committed nothing
        await().until(() -> t.laterCommits.size() == 2);
        assertThat(t.laterCommits.get(1).offsets()).isEqualTo(Map.of(0, 1L));

        t.answer(0, false); // the first assignment's commit fails now, while the second's is unanswered
        int polls = t.polls.get();
        await().until(() -> t.polls.get() >= polls + 20);

        assertThat(t.laterCommits).as("the stale failure does not resend the new assignment's commit").hasSize(2);
        t.answer(1, true);
        int afterAnswer = t.polls.get();
        await().until(() -> t.polls.get() >= afterAnswer + 2); // a whole owner loop turn took the answer in
        assertThat(engine.close(Duration.ofSeconds(5))).isTrue();
        engine = null;
        assertThat(t.commits).noneMatch(ScriptedTransport.CommitCall::sync);
        assertThat(t.committed(0)).isEqualTo(1);
    }

    @Test
    void shouldReportNoPartitionsOnceClosed() {
        ScriptedTransport t = ScriptedTransport.offsets(3);
        start(t, m -> { }, options().build());
        t.offer(0, keyless("x"));
        await().until(() -> engine.assignedPartitions().size() == 3 && t.committed(0) == 1);
        assertThat(engine.close(Duration.ofSeconds(5))).isTrue();
        assertThat(engine.assignedPartitions()).isEmpty();
        engine = null;
    }
}
