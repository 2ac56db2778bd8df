package io.sluice.config;

/** Where a consumer group with no committed position starts reading a partition. */
public enum StartPosition {
    /** The oldest retained message: nothing published before the group existed is missed. */
    EARLIEST,
    /** Only messages published after the group first joined. */
    LATEST
}
