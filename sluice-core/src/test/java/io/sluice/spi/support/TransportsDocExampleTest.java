package io.sluice.spi.support;

import io.sluice.Message;
import io.sluice.spi.PartitionListener;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Runs the example of docs/transports.md ("Building blocks for a transport"), as written there (the two classes
 * below), with assertions added. If this class changes, change the page.
 */
class TransportsDocExampleTest {

    // ---- from docs/transports.md
    static final class ListTopic {
        final List<List<Message>> partitions = List.of(new CopyOnWriteArrayList<>(), new CopyOnWriteArrayList<>());
        final LocalMembership group = new LocalMembership(2);
        final PollSignals consumers = new PollSignals();

        void append(int partition, Message message) {
            partitions.get(partition).add(message);
            consumers.signalAll(); // after the record is visible to hasRecords
        }
    }

    static final class ListConsumer extends GroupConsumer {
        private final ListTopic topic;
        private final long[] positions = new long[2];

        ListConsumer(ListTopic topic, String member, PartitionListener listener) {
            super(onChange -> topic.group.join(member, onChange), listener);
            this.topic = topic;
            topic.consumers.add(this);
        }

        @Override
        protected void openPartition(int p) {
            positions[p] = 0; // a real transport starts at the group's committed offset
        }

        @Override
        protected void closePartition(int p) {
        }

        @Override
        protected Message peek(int p) {
            List<Message> records = topic.partitions.get(p);
            return positions[p] < records.size() ? records.get((int) positions[p]) : null;
        }

        @Override
        protected long position(int p) {
            return positions[p];
        }

        @Override
        protected void advance(int p) {
            positions[p]++;
        }

        @Override
        protected boolean hasRecords(int p) {
            return positions[p] < topic.partitions.get(p).size();
        }

        @Override
        protected void closing() {
            topic.consumers.remove(this);
        }

        @Override
        public void commit(Map<Integer, Long> nextOffsets, boolean sync) {
            // a real transport stores them, for the partitions it still owns(p)
        }
    }
    // ---- end of the page's example

    @Test
    void shouldSplitTheListTopicBetweenTwoMembersAndDeliverEachPartitionInOrder() throws Exception {
        ListTopic topic = new ListTopic();
        Map<String, List<String>> events = new TreeMap<>();
        ListConsumer a = new ListConsumer(topic, "a", listener("a", events));
        ListConsumer b = new ListConsumer(topic, "b", listener("b", events));
        Map<String, List<String>> delivered = new TreeMap<>();
        await().pollInSameThread().until(() -> {
            poll(a, "a", delivered);
            poll(b, "b", delivered);
            return events.getOrDefault("b", List.of()).contains("assigned [1]");
        });

        for (int i = 0; i < 10; i++) {
            topic.append(i % 2, Message.of("k" + i, "m" + i));
        }
        await().pollInSameThread().until(() -> {
            poll(a, "a", delivered);
            poll(b, "b", delivered);
            return delivered.values().stream().mapToInt(List::size).sum() == 10;
        });

        assertThat(events.get("a")).as("both joined before polling").containsExactly("assigned [0]");
        assertThat(delivered.get("a")).containsExactly("0@0", "0@1", "0@2", "0@3", "0@4");
        assertThat(delivered.get("b")).containsExactly("1@0", "1@1", "1@2", "1@3", "1@4");
        a.close();
        b.close();
    }

    private static PartitionListener listener(String name, Map<String, List<String>> events) {
        return new PartitionListener() {
            @Override
            public void assigned(Collection<Integer> partitions) {
                events.computeIfAbsent(name, n -> new ArrayList<>()).add("assigned " + partitions);
            }

            @Override
            public void revoked(Collection<Integer> partitions) {
                events.computeIfAbsent(name, n -> new ArrayList<>()).add("revoked " + partitions);
            }

            @Override
            public void lost(Collection<Integer> partitions) {
                events.computeIfAbsent(name, n -> new ArrayList<>()).add("lost " + partitions);
            }
        };
    }

    private static void poll(ListConsumer c, String name, Map<String, List<String>> delivered)
            throws InterruptedException {
        c.poll(100, Long.MAX_VALUE, true, 50_000_000L, (m, partition, offset, size, attempt, handle) ->
                delivered.computeIfAbsent(name, n -> new ArrayList<>()).add(partition + "@" + offset));
    }
}
