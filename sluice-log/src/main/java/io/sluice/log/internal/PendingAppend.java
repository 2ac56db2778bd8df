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
    final int sizeAfterTimestamp;
    final int partition;
    long offset = -1;
    PendingAppend next;

    public PendingAppend(String topic, int partition, Message message, int sizeAfterTimestamp) {
        this.topic = topic;
        this.partition = partition;
        this.message = message;
        this.sizeAfterTimestamp = sizeAfterTimestamp;
    }
}
