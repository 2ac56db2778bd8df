package io.sluice.nats;

import io.nats.client.impl.Headers;
import io.nats.client.impl.NatsMessage;
import io.sluice.Message;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;

import static org.assertj.core.api.Assertions.assertThat;

class NatsWireTest {

    @Test
    void shouldRoundTripIdKeyTimestampAndOrderedHeadersWithReservedAndUnicodeCharacters() {
        Message m = Message.builder().id("id with spaces & = %").key("ключ-🔑 a&b=c")
                .payload("body".getBytes(StandardCharsets.UTF_8))
                .header("zeta", "last").header("a=b", "x&y=z").header("名前", "値 ✓").header("empty", "")
                .header("percent", "100% sure").timestampMillis(1_700_000_000_123L).build();
        Headers h = NatsWire.headers(m);
        assertThat(h.getFirst(NatsWire.HEADERS)).matches("[A-Za-z0-9._~%=&-]*");
        NatsMessage nats = NatsMessage.builder().subject("t.0").headers(h).data(m.payload()).build();

        Message back = NatsWire.decode(nats);
        assertThat(back).isEqualTo(m);
        assertThat(back.headers().toMap().keySet()).containsExactly("zeta", "a=b", "名前", "empty", "percent");
    }

    @Test
    void shouldLeavePlainIdsUnchangedForDeduplicationAndReadForeignMessagesWithDefaults() {
        assertThat(NatsWire.encode("0192f3a4-7b1c-7def-8abc-0123456789ab")).isEqualTo("0192f3a4-7b1c-7def-8abc-0123456789ab");
        Message foreign = NatsWire.decode(NatsMessage.builder().subject("plain").data("hi".getBytes()).build());
        assertThat(foreign.payloadAsString()).isEqualTo("hi");
        assertThat(foreign.key()).isNull();
        assertThat(foreign.headers().isEmpty()).isTrue();
    }
}
