package io.sluice.brokers.kafka;

/**
 * Starts a {@link KafkaBroker}, prints its directory and waits to be killed: the parent JVM that
 * {@code KafkaBrokerTest} kills to check that an orphaned broker stops and removes its directory.
 */
public final class OrphanBrokerMain {
    private OrphanBrokerMain() {
    }

    public static void main(String[] args) throws InterruptedException {
        KafkaBroker broker = KafkaBroker.start();
        System.out.println("BROKER-DIR " + broker.directory());
        System.out.flush();
        Thread.currentThread().join(); // until killed
    }
}
