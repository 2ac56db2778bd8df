package io.sluice.bench.micro;

import io.sluice.MessageIds;
import org.openjdk.jmh.annotations.Benchmark;

import java.util.UUID;

/** The cost of a message id: a UUIDv7, and its canonical string that travels in headers. */
public class MessageIdMicro {
    @Benchmark
    public UUID uuidV7() {
        return MessageIds.newUuid();
    }

    @Benchmark
    public String uuidV7String() {
        return MessageIds.newId();
    }
}
