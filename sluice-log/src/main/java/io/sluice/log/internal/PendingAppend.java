package io.sluice.log.internal;

import io.sluice.Message;
import io.sluice.Receipt;

import java.util.concurrent.CompletableFuture;

/**
 * One publish on its way into a partition: the future the publisher waits on, the message, and its link in the
 * partition writer's inbox (an intrusive stack, so queueing allocates nothing beyond this object).
 *
 * <p>Created by the publishing thread; after it is pushed, owned by the partition's writer thread.
 */
public final class PendingAppend extends CompletableFuture<Receipt> {
    final String topic;
    final Message message;
    /** Set by the publishing thread before the append is pushed to its partition's writer. */
    int partition;
    /** True if the id is a canonical UUID, stored as {@link #idHigh} and {@link #idLow}. */
    final boolean uuidId;
    final long idHigh;
    final long idLow;
    /** {@link RecordCodec#sizeAfterTimestamp} of the message, computed once by the publishing thread. */
    final int sizeAfterTimestamp;
    long offset = -1;
    PendingAppend next;

    /** Parses the id and sizes the record on the publishing thread, so the writer only copies bytes. */
    public PendingAppend(String topic, int partition, Message message) {
        this.topic = topic;
        this.partition = partition;
        this.message = message;
        String id = message.id();
        this.uuidId = id != null && RecordCodec.isCanonicalUuid(id);
        this.idHigh = uuidId ? RecordCodec.uuidHigh(id) : 0;
        this.idLow = uuidId ? RecordCodec.uuidLow(id) : 0;
        this.sizeAfterTimestamp = RecordCodec.sizeAfterTimestamp(message, uuidId);
    }

    /** The encoded size of the record with its timestamp delta, length prefix included. */
    int encodedSize(long timestampDelta) {
        return RecordCodec.encodedSize(sizeAfterTimestamp, timestampDelta);
    }
}
