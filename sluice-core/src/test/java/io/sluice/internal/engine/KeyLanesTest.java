package io.sluice.internal.engine;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class KeyLanesTest {
    private final KeyLanes lanes = new KeyLanes(16);

    private static Delivery delivery(String key, int partition, long offset) {
        Delivery d = new Delivery(null);
        d.key = key;
        d.partition = partition;
        d.offset = offset;
        return d;
    }

    @Test
    void shouldRunOneMessagePerKeyInFifoOrder() {
        Delivery a1 = delivery("a", 0, 1);
        Delivery a2 = delivery("a", 0, 2);
        Delivery b1 = delivery("b", 0, 3);
        Delivery a3 = delivery("a", 0, 4);
        assertThat(lanes.enqueue(a1)).isTrue();
        assertThat(lanes.enqueue(a2)).isFalse();
        assertThat(lanes.enqueue(b1)).isTrue();
        assertThat(lanes.enqueue(a3)).isFalse();
        assertThat(lanes.advance(a1)).isSameAs(a2);
        assertThat(lanes.advance(a2)).isSameAs(a3);
        assertThat(lanes.advance(a3)).isNull();
        assertThat(lanes.advance(b1)).isNull();
        assertThat(lanes.size()).isZero();
    }

    @Test
    void shouldAppendAfterAnAdvanceToTheRightTail() {
        Delivery a1 = delivery("a", 0, 1);
        Delivery a2 = delivery("a", 0, 2);
        lanes.enqueue(a1);
        lanes.enqueue(a2);
        assertThat(lanes.advance(a1)).isSameAs(a2);
        Delivery a3 = delivery("a", 0, 3);
        assertThat(lanes.enqueue(a3)).isFalse();
        assertThat(lanes.advance(a2)).isSameAs(a3);
    }

    @Test
    void shouldRemoveWaitingMessagesOfRevokedPartitionsButKeepHeads() {
        Delivery a1 = delivery("a", 1, 1);
        Delivery a2 = delivery("a", 1, 2);
        Delivery a3 = delivery("a", 2, 7);
        Delivery a4 = delivery("a", 1, 3);
        for (Delivery d : List.of(a1, a2, a3, a4)) {
            lanes.enqueue(d);
        }
        List<Delivery> dropped = new ArrayList<>();
        lanes.removeWaiting(d -> d.partition == 1, dropped::add);
        assertThat(dropped).containsExactly(a2, a4);
        assertThat(lanes.advance(a1)).isSameAs(a3);
        Delivery a5 = delivery("a", 2, 8);
        lanes.enqueue(a5);
        assertThat(lanes.advance(a3)).isSameAs(a5);
    }
}
