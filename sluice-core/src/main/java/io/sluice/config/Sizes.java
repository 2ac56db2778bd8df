package io.sluice.config;

import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Parses byte sizes as written in configuration: {@code 1048576}, {@code 512KiB}, {@code 64MiB}, {@code 1GB}. */
public final class Sizes {
    private static final Pattern SIZE = Pattern.compile("(\\d+)\\s*(b|kb|kib|mb|mib|gb|gib)?");

    private Sizes() {
    }

    public static long parse(String key, String text) {
        Matcher m = SIZE.matcher(text.trim().toLowerCase(Locale.ROOT));
        if (!m.matches()) {
            throw new ConfigException(key, text, "must be a size in bytes, such as 1048576, 512KiB, 64MiB or 1GB");
        }
        long n = Long.parseLong(m.group(1));
        String unit = m.group(2) == null ? "b" : m.group(2);
        long factor = switch (unit) {
            case "kb" -> 1000L;
            case "kib" -> 1024L;
            case "mb" -> 1000_000L;
            case "mib" -> 1024L * 1024;
            case "gb" -> 1000_000_000L;
            case "gib" -> 1024L * 1024 * 1024;
            default -> 1L;
        };
        if (n > Long.MAX_VALUE / factor) {
            throw new ConfigException(key, text, "is too large");
        }
        return n * factor;
    }
}
