package io.sluice.config;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * One section of a parsed configuration tree, such as {@code consumer.retry}, with typed reads that fail naming the
 * full dotted key. Remembers which keys were read so that {@link #rejectUnknownKeys()} can refuse a misspelt key
 * instead of silently ignoring it. Not thread-safe: used while a configuration is bound.
 */
public final class ConfigSection {
    private final String path;
    private final Map<String, Object> values;
    private final Set<String> read = new LinkedHashSet<>();

    public ConfigSection(String path, Map<String, ?> values) {
        this.path = path;
        this.values = new LinkedHashMap<>(values == null ? Map.of() : values);
    }

    /** An empty section. */
    public static ConfigSection empty(String path) {
        return new ConfigSection(path, Map.of());
    }

    /** The dotted key of {@code name} in this section. */
    public String key(String name) {
        return path.isEmpty() ? name : path + "." + name;
    }

    public String path() {
        return path;
    }

    public boolean has(String name) {
        return values.containsKey(name);
    }

    /** The raw value, marking the key as read; null when absent. */
    public Object raw(String name) {
        read.add(name);
        return values.get(name);
    }

    public String string(String name, String fallback) {
        Object v = raw(name);
        if (v == null) {
            return fallback;
        }
        if (v instanceof Map || v instanceof List) {
            throw new ConfigException(key(name), v, "must be a single value, not a section or list");
        }
        return String.valueOf(v);
    }

    public int integer(String name, int fallback) {
        Object v = raw(name);
        if (v == null) {
            return fallback;
        }
        if (v instanceof Integer i) {
            return i;
        }
        try {
            return Integer.parseInt(String.valueOf(v).trim());
        } catch (NumberFormatException e) {
            throw new ConfigException(key(name), v, "must be a whole number");
        }
    }

    public long longValue(String name, long fallback) {
        Object v = raw(name);
        if (v == null) {
            return fallback;
        }
        if (v instanceof Integer || v instanceof Long) {
            return ((Number) v).longValue();
        }
        try {
            return Long.parseLong(String.valueOf(v).trim());
        } catch (NumberFormatException e) {
            throw new ConfigException(key(name), v, "must be a whole number");
        }
    }

    public double decimal(String name, double fallback) {
        Object v = raw(name);
        if (v == null) {
            return fallback;
        }
        if (v instanceof Number n) {
            return n.doubleValue();
        }
        try {
            return Double.parseDouble(String.valueOf(v).trim());
        } catch (NumberFormatException e) {
            throw new ConfigException(key(name), v, "must be a number");
        }
    }

    public boolean bool(String name, boolean fallback) {
        Object v = raw(name);
        if (v == null) {
            return fallback;
        }
        if (v instanceof Boolean b) {
            return b;
        }
        String s = String.valueOf(v).trim();
        if (s.equalsIgnoreCase("true")) {
            return true;
        }
        if (s.equalsIgnoreCase("false")) {
            return false;
        }
        throw new ConfigException(key(name), v, "must be true or false");
    }

    public Duration duration(String name, Duration fallback) {
        Object v = raw(name);
        if (v == null) {
            return fallback;
        }
        if (v instanceof Number) {
            throw new ConfigException(key(name), v, "must be a duration with a unit, such as 250ms, 5s, 2m, 1h or PT5S");
        }
        return Durations.parse(key(name), String.valueOf(v));
    }

    public long bytes(String name, long fallback) {
        Object v = raw(name);
        if (v == null) {
            return fallback;
        }
        if (v instanceof Integer || v instanceof Long) {
            return ((Number) v).longValue();
        }
        return Sizes.parse(key(name), String.valueOf(v));
    }

    public List<String> strings(String name) {
        Object v = raw(name);
        if (v == null) {
            return List.of();
        }
        if (v instanceof List<?> list) {
            List<String> out = new ArrayList<>();
            for (Object o : list) {
                out.add(String.valueOf(o));
            }
            return out;
        }
        throw new ConfigException(key(name), v, "must be a list");
    }

    /** The nested section {@code name}; empty when absent. */
    @SuppressWarnings("unchecked")
    public ConfigSection section(String name) {
        Object v = raw(name);
        if (v == null) {
            return empty(key(name));
        }
        if (!(v instanceof Map)) {
            throw new ConfigException(key(name), v, "must be a section of keys");
        }
        return new ConfigSection(key(name), (Map<String, ?>) v);
    }

    /** The values of this section, for handing a transport its own settings. Marks every key as read. */
    public Map<String, Object> asMap() {
        read.addAll(values.keySet());
        return Map.copyOf(values);
    }

    /**
     * Fails on the first key present in this section that nothing read, naming it, the keys that are known, and the
     * value given (a misspelt key is easier to find by its value).
     */
    public void rejectUnknownKeys(Set<String> known) {
        for (Map.Entry<String, Object> e : values.entrySet()) {
            if (!read.contains(e.getKey())) {
                throw new ConfigException(key(e.getKey()), "Unknown configuration key " + key(e.getKey())
                        + "; known keys here: " + String.join(", ", new TreeSet<>(known)) + "; value given: "
                        + echo(e.getKey(), e.getValue(), known));
            }
        }
    }

    /**
     * Parts of key names that suggest a secret. Broad on purpose: an unknown key is often a misspelt secret
     * ({@code pasword}, {@code apiKey}, {@code sasl.jaas.config}), and hiding a harmless value costs little.
     */
    private static final List<String> SECRET_PARTS = List.of("pass", "pwd", "key", "auth", "jaas", "secret", "token",
            "credential", "cert");

    /** {@link #echo(String, Object, Set)} with no known keys to compare against. */
    static String echo(String name, Object value) {
        return echo(name, value, Set.of());
    }

    /**
     * The value of an unknown key as an error echoes it: a section by its keys only, and not at all the value of a
     * key that looks like a secret or is a small misspelling of a known key that does, since the error may end up in
     * a log.
     */
    static String echo(String name, Object value, Set<String> known) {
        if (value instanceof Map<?, ?> section) {
            List<String> keys = new ArrayList<>();
            section.keySet().forEach(k -> keys.add(String.valueOf(k)));
            return "a section with keys " + keys;
        }
        if (looksSecret(name)) {
            return "(hidden: the key looks like a secret)";
        }
        String lower = name.toLowerCase(java.util.Locale.ROOT);
        for (String k : known) {
            if (looksSecret(k) && editDistance(lower, k.toLowerCase(java.util.Locale.ROOT)) <= 2) {
                return "(hidden: the key looks like a misspelt " + k + ")";
            }
        }
        return ConfigException.render(value);
    }

    private static boolean looksSecret(String name) {
        String lower = name.toLowerCase(java.util.Locale.ROOT);
        for (String part : SECRET_PARTS) {
            if (lower.contains(part)) {
                return true;
            }
        }
        return false;
    }

    /** Levenshtein distance; key names are short, so the quadratic table is fine (config is read once). */
    private static int editDistance(String a, String b) {
        int[] prev = new int[b.length() + 1];
        int[] cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            prev[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int substitute = prev[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
                cur[j] = Math.min(substitute, Math.min(prev[j], cur[j - 1]) + 1);
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.length()];
    }

    /** {@link #rejectUnknownKeys(Set)} with the keys read so far as the known ones. */
    public void rejectUnknownKeys() {
        rejectUnknownKeys(Set.copyOf(read));
    }
}
