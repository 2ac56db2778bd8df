package io.sluice.codec;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;

/** {@code application/json} through Jackson. Unknown properties fail decoding: a schema mismatch is not silent. */
public final class JsonCodec implements Codec {
    public static final String CONTENT_TYPE = "application/json";

    private final ObjectMapper mapper;

    public JsonCodec() {
        this(JsonMapper.builder().findAndAddModules().enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
                .build());
    }

    /** A codec over an application's own configured mapper. */
    public JsonCodec(ObjectMapper mapper) {
        this.mapper = mapper;
    }

    @Override
    public String contentType() {
        return CONTENT_TYPE;
    }

    @Override
    public boolean canEncode(Class<?> type) {
        return true;
    }

    @Override
    public byte[] encode(Object value) throws Exception {
        return mapper.writeValueAsBytes(value);
    }

    @Override
    public <T> T decode(byte[] payload, Class<T> type) throws Exception {
        return mapper.readValue(payload, type);
    }
}
