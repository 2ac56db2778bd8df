package io.sluice.kafka;

import io.sluice.brokers.kafka.KafkaBroker;
import io.sluice.spi.Transport;
import io.sluice.testkit.PausePartitionsContractTest;

/** The per-partition pause contract on Kafka, against the shared single-node broker. */
class KafkaPausePartitionsContractTest extends PausePartitionsContractTest {
    @Override
    protected Transport createTransport() {
        return new KafkaTransport(KafkaSettings.of(KafkaBroker.shared().bootstrapServers()));
    }
}
