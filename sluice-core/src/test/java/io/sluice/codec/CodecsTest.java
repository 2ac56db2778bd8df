package io.sluice.codec;

import io.sluice.Message;
import io.sluice.UndecodableMessageException;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class CodecsTest {
    record Order(String id, int quantity) {
    }

    private final Codecs codecs = Codecs.defaults();

    @Test
    void shouldRoundTripJsonWithContentType() {
        Message m = codecs.encode(new Order("o-1", 2)).key("o-1").build();
        assertThat(m.header(Message.CONTENT_TYPE)).isEqualTo("application/json");
        assertThat(codecs.decode(m, Order.class)).isEqualTo(new Order("o-1", 2));
    }

    @Test
    void shouldPickCodecByTypeForStringsAndBytes() {
        assertThat(codecs.encode("héllo").build().header(Message.CONTENT_TYPE)).isEqualTo(TextCodec.CONTENT_TYPE);
        assertThat(codecs.encode(new byte[]{1}).build().header(Message.CONTENT_TYPE)).isEqualTo(BytesCodec.CONTENT_TYPE);
    }

    @Test
    void shouldMatchContentTypeIgnoringCaseAndParameters() {
        Message m = Message.builder().payload("{\"id\":\"x\",\"quantity\":1}")
                .header(Message.CONTENT_TYPE, "Application/JSON; charset=UTF-8").build();
        assertThat(codecs.decode(m, Order.class)).isEqualTo(new Order("x", 1));
    }

    @Test
    void shouldRejectBrokenJsonAsUndecodable() {
        Message m = Message.builder().payload("{\"id\": ").header(Message.CONTENT_TYPE, "application/json").build();
        assertThatThrownBy(() -> codecs.decode(m, Order.class)).isInstanceOf(UndecodableMessageException.class)
                .hasMessageContaining("as " + Order.class.getName());
    }

    @Test
    void shouldRejectMalformedUtf8InsteadOfReplacingIt() {
        Message m = Message.builder().payload(new byte[]{'a', (byte) 0xC3}).header(Message.CONTENT_TYPE, "text/plain").build();
        assertThatThrownBy(() -> codecs.decode(m, String.class)).isInstanceOf(UndecodableMessageException.class);
        Message ok = Message.builder().payload("ü".getBytes(StandardCharsets.UTF_8)).header(Message.CONTENT_TYPE, "text/plain").build();
        assertThat(codecs.decode(ok, String.class)).isEqualTo("ü");
    }

    @Test
    void shouldRejectUnknownContentType() {
        Message m = Message.builder().payload("x").header(Message.CONTENT_TYPE, "application/x-unknown").build();
        assertThatThrownBy(() -> codecs.decode(m, String.class)).isInstanceOf(UndecodableMessageException.class)
                .hasMessageContaining("no codec for content type 'application/x-unknown'");
    }

    @Test
    void shouldRoundTripProtobufMessagesWithTheirOwnParser() {
        com.google.protobuf.Timestamp ts = com.google.protobuf.Timestamp.newBuilder().setSeconds(1_700_000_000L)
                .setNanos(42).build();
        Message m = codecs.encode(ts).key("clock").build();
        assertThat(m.header(Message.CONTENT_TYPE)).isEqualTo(ProtobufCodec.CONTENT_TYPE);
        assertThat(m.payload()).isEqualTo(ts.toByteArray());
        assertThat(codecs.decode(m, com.google.protobuf.Timestamp.class)).isEqualTo(ts);
    }

    @Test
    void shouldRejectBrokenProtobufAsUndecodable() {
        Message m = Message.builder().payload(new byte[] {(byte) 0x08, (byte) 0xff})
                .header(Message.CONTENT_TYPE, ProtobufCodec.CONTENT_TYPE).build();
        assertThatThrownBy(() -> codecs.decode(m, com.google.protobuf.Timestamp.class))
                .isInstanceOf(UndecodableMessageException.class)
                .hasMessageContaining("cannot decode message").hasMessageContaining("application/x-protobuf")
                .hasMessageContaining("com.google.protobuf.Timestamp");
    }
}
