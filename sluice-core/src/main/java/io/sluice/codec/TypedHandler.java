package io.sluice.codec;

import io.sluice.Message;

/**
 * Handles a decoded payload; the same contract as {@link io.sluice.Handler}, with the value decoded by the codec
 * the message's {@code content-type} header names.
 */
@FunctionalInterface
public interface TypedHandler<T> {
    void handle(T value, Message message) throws Exception;
}
