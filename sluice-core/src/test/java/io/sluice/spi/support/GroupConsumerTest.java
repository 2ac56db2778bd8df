package io.sluice.spi.support;

import io.sluice.Message;
import io.sluice.spi.PartitionListener;
import io.sluice.spi.RecordSink;
import io.sluice.spi.support.TransportsDocExampleTest.ListConsumer;
import io.sluice.spi.support.TransportsDocExampleTest.ListTopic;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** {@link GroupConsumer}'s fetch: how one poll's budget is spread over the ready partitions. */
class GroupConsumerTest {

    @Test
    void shouldTakeOneRecordPerPartitionInTurnWhenTheBudgetIsSmallerThanEitherBacklog() throws Exception {
        ListTopic topic = new ListTopic();
        List<Collection<Integer>> assigned = new ArrayList<>();
        ListConsumer c = new ListConsumer(topic, "a", listener(assigned));
        List<String> delivered = new ArrayList<>();
        RecordSink sink = (m, partition, offset, size, attempt, handle) -> delivered.add(partition + "@" + offset);
        await().pollInSameThread().until(() -> {
            c.poll(0, Long.MAX_VALUE, true, 0, sink);
            return !assigned.isEmpty();
        });
        assertThat(assigned).containsExactly(List.of(0, 1));
        for (int i = 0; i < 10; i++) {
            topic.append(0, Message.of("a" + i, "v"));
            topic.append(1, Message.of("b" + i, "v"));
        }

        c.poll(4, Long.MAX_VALUE, true, 0, sink);
        assertThat(delivered).as("one poll of 4").containsExactly("0@0", "1@0", "0@1", "1@1");
        delivered.clear();
        c.poll(3, Long.MAX_VALUE, true, 0, sink);
        c.poll(3, Long.MAX_VALUE, true, 0, sink);
        assertThat(delivered).as("two polls of 3 go on where the last left off")
                .containsExactly("0@2", "1@2", "0@3", "1@3", "0@4", "1@4");
        c.close();
    }

    @Test
    void shouldSpreadTheByteBudgetOverThePartitionsAndStartNextTimeWithTheRecordThatDidNotFit() throws Exception {
        ListTopic topic = new ListTopic();
        List<Collection<Integer>> assigned = new ArrayList<>();
        ListConsumer c = new ListConsumer(topic, "a", listener(assigned));
        List<String> delivered = new ArrayList<>();
        RecordSink sink = (m, partition, offset, size, attempt, handle) -> delivered.add(partition + "@" + offset);
        await().pollInSameThread().until(() -> {
            c.poll(0, Long.MAX_VALUE, true, 0, sink);
            return !assigned.isEmpty();
        });
        for (int i = 0; i < 5; i++) {
            topic.append(0, Message.of("a" + i, "v"));
            topic.append(1, Message.of("b" + i, "v"));
        }
        long size = Message.of("a0", "v").estimatedSize();

        c.poll(100, 3 * size, false, 0, sink);
        assertThat(delivered).as("three records' bytes").containsExactly("0@0", "1@0", "0@1");
        delivered.clear();
        c.poll(100, 2 * size, false, 0, sink);
        assertThat(delivered).as("the partition whose record did not fit first").containsExactly("1@1", "0@2");
        delivered.clear();
        c.poll(100, Long.MAX_VALUE, false, 0, sink);
        assertThat(delivered).as("the rest, still in turn, until both partitions are empty")
                .containsExactly("1@2", "0@3", "1@3", "0@4", "1@4");
        c.close();
    }

    private static PartitionListener listener(List<Collection<Integer>> assigned) {
        return new PartitionListener() {
            @Override
            public void assigned(Collection<Integer> partitions) {
                assigned.add(List.copyOf(partitions));
            }

            @Override
            public void revoked(Collection<Integer> partitions) {
            }

            @Override
            public void lost(Collection<Integer> partitions) {
            }
        };
    }
}
