package io.sluice.config;

import java.time.Duration;

/**
 * Validation shared by the options builders; each check throws {@link ConfigException} naming the key. Never
 * clamps: a bad value is an error, not a hint.
 */
public final class Checks {
    private Checks() {
    }

    public static int intBetween(String key, int value, int min, int max) {
        if (value < min || value > max) {
            throw new ConfigException(key, value, "must be between " + min + " and " + max);
        }
        return value;
    }

    public static long longBetween(String key, long value, long min, long max) {
        if (value < min || value > max) {
            throw new ConfigException(key, value, "must be between " + min + " and " + max);
        }
        return value;
    }

    public static double doubleBetween(String key, double value, double min, double max) {
        if (!(value >= min && value <= max)) {
            throw new ConfigException(key, value, "must be between " + min + " and " + max);
        }
        return value;
    }

    public static Duration durationBetween(String key, Duration value, Duration min, Duration max) {
        if (value == null) {
            throw new ConfigException(key, null, "must be a duration between " + Durations.format(min) + " and "
                    + Durations.format(max));
        }
        if (value.compareTo(min) < 0 || value.compareTo(max) > 0) {
            throw new ConfigException(key, Durations.format(value), "must be between " + Durations.format(min)
                    + " and " + Durations.format(max));
        }
        return value;
    }

    public static String notBlank(String key, String value) {
        if (value == null || value.isBlank()) {
            throw new ConfigException(key, value, "must not be empty");
        }
        return value;
    }

    public static <E extends Enum<E>> E enumValue(String key, Class<E> type, String value) {
        for (E e : type.getEnumConstants()) {
            if (e.name().equalsIgnoreCase(value) || e.name().replace('_', '-').equalsIgnoreCase(value)) {
                return e;
            }
        }
        StringBuilder allowed = new StringBuilder();
        for (E e : type.getEnumConstants()) {
            allowed.append(allowed.isEmpty() ? "" : ", ").append(e.name().toLowerCase(java.util.Locale.ROOT));
        }
        throw new ConfigException(key, value, "must be one of " + allowed);
    }
}
