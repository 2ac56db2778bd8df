package io.sluice;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class HeadersTest {
    @Test
    void shouldKeepInsertionOrderAndReplaceInPlace() {
        Headers h = Headers.builder().set("b", "1").set("a", "2").set("b", "3").build();
        assertThat(h.size()).isEqualTo(2);
        assertThat(h.name(0)).isEqualTo("b");
        assertThat(h.value(0)).isEqualTo("3");
        assertThat(h.toMap()).containsExactly(java.util.Map.entry("b", "3"), java.util.Map.entry("a", "2"));
    }

    @Test
    void shouldRemoveAndCompare() {
        Headers h = Headers.of("x", "1", "y", "2", "z", "3");
        Headers removed = h.toBuilder().remove("y").build();
        assertThat(removed).isEqualTo(Headers.of("x", "1", "z", "3"));
        assertThat(h.get("y")).isEqualTo("2");
        assertThat(Headers.of()).isSameAs(Headers.EMPTY);
    }

    @Test
    void shouldRejectNullValueNamingTheHeader() {
        assertThatThrownBy(() -> Headers.builder().set("trace", null)).hasMessage("value of header trace");
    }
}
