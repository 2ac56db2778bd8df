package io.sluice.log;

/**
 * When the log forces appended batches to stable storage ({@code log.fsync}). What each promises is stated for three
 * kinds of failure: the process dies (crash, {@code kill -9}), the operating system dies (kernel panic, power loss),
 * and the disk lies about flushes (which no policy survives).
 */
public enum FsyncPolicy {
    /**
     * A publish future completes only after an fsync (fdatasync) that covers its record has returned. An acknowledged
     * record survives a process crash and an operating-system crash or power loss. Group commit keeps it fast: one
     * fsync covers every record that arrived while the previous one ran. Consumers see a record only once it is
     * durable. The default.
     */
    ALWAYS,
    /**
     * A publish future completes once its record is written to the operating system (page cache); a background timer
     * forces every partition with unsynced data each {@code log.fsyncInterval}. An acknowledged record survives a
     * process crash; an operating-system crash or power loss may lose records acknowledged in the last interval (plus
     * the time one fsync takes).
     */
    INTERVAL,
    /**
     * A publish future completes once its record is written to the page cache; the log never forces the active
     * segment (only sealed segments, when they roll, and everything on a clean close). An acknowledged record survives
     * a process crash; an operating-system crash or power loss may lose whatever the kernel had not yet written back
     * (on Linux typically up to 30 seconds) of the active segments.
     */
    NEVER
}
