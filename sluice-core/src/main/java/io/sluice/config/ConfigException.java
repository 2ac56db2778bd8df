package io.sluice.config;

/**
 * An invalid configuration value. The message names the key, echoes the value and says what is allowed:
 * {@code Invalid value -1 for configuration consumer.maxInFlight: must be between 1 and 1000000}.
 */
public class ConfigException extends IllegalArgumentException {
    private final String key;

    public ConfigException(String key, Object value, String reason) {
        super("Invalid value " + render(value) + " for configuration " + key + ": " + reason);
        this.key = key;
    }

    /** A problem not tied to one value, such as an unknown key. */
    public ConfigException(String key, String message) {
        super(message);
        this.key = key;
    }

    /** The dotted configuration key at fault, as written in {@code sluice.yaml}. */
    public String key() {
        return key;
    }

    /** A value as error messages echo it: text quoted, anything else as written. */
    static String render(Object value) {
        if (value == null) {
            return "null";
        }
        return value instanceof CharSequence ? "'" + value + "'" : String.valueOf(value);
    }
}
