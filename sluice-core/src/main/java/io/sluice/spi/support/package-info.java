/**
 * Building blocks for transport authors, not for applications: what the memory transport and the embedded log share
 * and what a new transport (RabbitMQ, Redis, ...) can build on instead of writing again. The poll thread's waiter
 * ({@link io.sluice.spi.support.PollWaiter}), cooperative group hand-over over a pluggable membership store
 * ({@link io.sluice.spi.support.GroupMember}, {@link io.sluice.spi.support.MembershipStore},
 * {@link io.sluice.spi.support.LocalMembership}), and a whole poll loop for members that read partitions record by
 * record ({@link io.sluice.spi.support.GroupConsumer}). Everything here depends only on the SPI and the public API,
 * never on the engine. docs/transports.md has an example.
 */
package io.sluice.spi.support;
