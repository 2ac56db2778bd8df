package io.sluice.bench;

import java.lang.management.ManagementFactory;

/** Process CPU time (all threads, user + system), for the CPU-per-message figure every benchmark reports. */
public final class CpuClock {
    private CpuClock() {
    }

    /** Nanoseconds of CPU the whole process has used so far. */
    public static long processCpuNanos() {
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
            return os.getProcessCpuTime();
        }
        throw new IllegalStateException("this JVM does not report process CPU time");
    }
}
