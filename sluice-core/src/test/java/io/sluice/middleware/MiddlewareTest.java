package io.sluice.middleware;

import io.sluice.Handler;
import io.sluice.Message;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class MiddlewareTest {
    private static Message withId(String id) {
        return Message.builder().id(id).payload("x").build();
    }

    @Test
    void shouldSkipRedeliveryOfAHandledMessage() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        Handler h = Deduplicate.lastHandled(10).apply(m -> calls.incrementAndGet());
        h.handle(withId("a"));
        h.handle(withId("a"));
        h.handle(withId("b"));
        assertThat(calls.get()).isEqualTo(2);
    }

    @Test
    void shouldNotRememberAFailedAttempt() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        Handler h = Deduplicate.lastHandled(10).apply(m -> {
            if (calls.incrementAndGet() == 1) {
                throw new IllegalStateException("first try fails");
            }
        });
        assertThatThrownBy(() -> h.handle(withId("a"))).isInstanceOf(IllegalStateException.class);
        h.handle(withId("a"));
        assertThat(calls.get()).isEqualTo(2);
    }

    @Test
    void shouldForgetIdsOutsideTheWindow() throws Exception {
        Deduplicate dedup = Deduplicate.lastHandled(2);
        Handler h = dedup.apply(m -> { });
        h.handle(withId("a"));
        h.handle(withId("b"));
        h.handle(withId("c"));
        assertThat(dedup.seen(withId("a"))).isFalse();
        assertThat(dedup.seen(withId("b"))).isTrue();
        assertThat(dedup.seen(withId("c"))).isTrue();
    }

    @Test
    void shouldTimeEveryAttemptWithItsOutcome() {
        List<Boolean> outcomes = new ArrayList<>();
        Handler h = Timing.recordTo((nanos, ok) -> outcomes.add(ok)).apply(m -> {
            throw new IllegalStateException();
        });
        assertThatThrownBy(() -> h.handle(withId("a"))).isInstanceOf(IllegalStateException.class);
        assertThat(outcomes).containsExactly(false);
    }
}
