package io.sluice;

import io.sluice.config.ConsumerOptions;

/**
 * Starts subscriptions. Thread-safe.
 */
public interface Subscriber {
    /**
     * Joins consumer group {@code group} on {@code topic}: the group's members split the topic's partitions, and
     * each message is handled by one member.
     *
     * @param options engine settings for this subscription (in-flight bounds, retry, dead letter, timeouts)
     * @return the running subscription
     */
    Subscription subscribe(String topic, String group, Handler handler, ConsumerOptions options);
}
