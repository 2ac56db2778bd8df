package io.sluice.spi;

import io.sluice.config.StartPosition;

/**
 * What a subscription asks of a transport consumer.
 *
 * @param topic     the topic to consume
 * @param group     the consumer group to join
 * @param memberId  a name for this member, unique within the process, for logs and broker views
 * @param startFrom where to start a partition with no committed position
 */
public record ConsumerSpec(String topic, String group, String memberId, StartPosition startFrom) {
}
