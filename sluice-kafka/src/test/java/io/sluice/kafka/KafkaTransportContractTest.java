package io.sluice.kafka;

import io.sluice.brokers.kafka.KafkaBroker;
import io.sluice.spi.Transport;
import io.sluice.testkit.TransportContractTest;
import org.junit.jupiter.api.AfterAll;

import java.util.Map;

/**
 * The whole transport contract, unchanged, against a real single-node KRaft broker of its own.
 *
 * <p>The broker keeps a 1 s {@code group.initial.rebalance.delay.ms} (Kafka's production default is 3 s; the other
 * test classes use 0). The in-flight bound tests publish one message at a time and wait for each acknowledgement, so
 * on a networked broker messages arrive one publish round trip apart and a consumer that is already assigned never
 * sees enough of them at once to reach the bound's lower check; with the delay, the first member of a new group
 * starts on a backlog, as it would in production.
 */
class KafkaTransportContractTest extends TransportContractTest {
    private static KafkaBroker broker;

    private static synchronized KafkaBroker broker() {
        if (broker == null) {
            broker = KafkaBroker.builder().property("group.initial.rebalance.delay.ms", "1000").start();
        }
        return broker;
    }

    @AfterAll
    static synchronized void stopBroker() {
        if (broker != null) {
            broker.close();
            broker = null;
        }
    }

    @Override
    protected Transport createTransport() {
        return new KafkaTransport(KafkaSettings.of(broker().bootstrapServers()));
    }

    @Override
    protected InvalidSetting invalidSetting() {
        return new InvalidSetting("kafka", Map.of("bootstrapServers", broker().bootstrapServers(),
                "linger", "-5ms"), "kafka.linger");
    }
}
