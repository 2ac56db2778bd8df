package io.sluice.bench.micro;

import io.sluice.Message;
import io.sluice.Receipt;
import io.sluice.config.PublisherOptions;
import io.sluice.internal.publish.BoundedPublisher;
import io.sluice.spi.TransportProducer;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

import java.util.concurrent.CompletableFuture;

/**
 * What the publisher itself costs per message, over a transport that confirms every send at once: the id, the
 * bound, the pending-publish bookkeeping and the futures. Whatever a real transport adds comes on top.
 */
@State(Scope.Benchmark)
public class PublisherMicro {
    private static final Receipt RECEIPT = new Receipt("t", 0, 0, "id");
    private static final CompletableFuture<Receipt> DONE = CompletableFuture.completedFuture(RECEIPT);

    private BoundedPublisher publisher;
    private Message withId;
    private Message withoutId;

    @Setup(Level.Trial)
    public void open() {
        TransportProducer confirmsAtOnce = (topic, message) -> DONE;
        publisher = new BoundedPublisher(confirmsAtOnce, PublisherOptions.defaults());
        byte[] payload = new byte[100];
        withId = Message.builder().id("fixed-id").key("k").payload(payload).timestampMillis(1).build();
        withoutId = Message.builder().key("k").payload(payload).build();
    }

    @TearDown(Level.Trial)
    public void close() {
        publisher.close();
    }

    /** A message whose id and timestamp are set: the publisher's bookkeeping alone. */
    @Benchmark
    public CompletableFuture<Receipt> publishWithId() {
        return publisher.publish("t", withId);
    }

    /** A message without an id: adds the UUIDv7 and the copy of the message that carries it. */
    @Benchmark
    public CompletableFuture<Receipt> publishAssigningId() {
        return publisher.publish("t", withoutId);
    }

    /** The future a transport returns, for scale: the floor under any publish. */
    @Benchmark
    public CompletableFuture<Receipt> transportFutureOnly() {
        CompletableFuture<Receipt> f = new CompletableFuture<>();
        f.complete(RECEIPT);
        return f;
    }
}
