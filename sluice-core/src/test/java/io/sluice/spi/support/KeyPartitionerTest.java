package io.sluice.spi.support;

import io.sluice.Message;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class KeyPartitionerTest {

    /** The mapping is stored data on the embedded log: these values must never change. */
    @Test
    void shouldKeepEveryKeyOnThePartitionItHadBefore() {
        KeyPartitioner four = new KeyPartitioner(4);
        KeyPartitioner seven = new KeyPartitioner(7);
        List<Integer> onFour = new ArrayList<>();
        List<Integer> onSeven = new ArrayList<>();
        for (String key : List.of("k1", "customer-7", "order-123456", "ünïcödé", "")) {
            onFour.add(four.partitionFor(Message.of(key, "x")));
            onSeven.add(seven.partitionFor(Message.of(key, "x")));
        }

        assertThat(onFour).containsExactly(2, 1, 0, 1, 0);
        assertThat(onSeven).containsExactly(6, 5, 2, 6, 0);
    }

    @Test
    void shouldSendKeylessMessagesRoundRobin() {
        KeyPartitioner three = new KeyPartitioner(3);
        List<Integer> partitions = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            partitions.add(three.partitionFor(Message.of(new byte[1])));
        }

        assertThat(partitions).containsExactly(0, 1, 2, 0, 1, 2);
    }

    @Test
    void shouldRejectANonPositivePartitionCount() {
        assertThatThrownBy(() -> new KeyPartitioner(0)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("partitions must be positive, was 0");
    }
}
