package io.sluice.log.internal;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * File names for topics and groups: letters, digits, {@code .}, {@code _} and {@code -} stay as they are; every other
 * byte of the UTF-8 name becomes {@code %XX}, so any name maps to one safe file name and back. Stateless.
 */
public final class Names {
    /** Longest encoded name; file systems allow 255 bytes and segment files need none of it. */
    public static final int MAX_ENCODED = 240;

    private Names() {
    }

    /** The file name for {@code name}. */
    public static String encode(String name) {
        if (name.isEmpty()) {
            throw new IllegalArgumentException("a topic or group name must not be empty");
        }
        StringBuilder b = new StringBuilder(name.length());
        for (byte x : name.getBytes(StandardCharsets.UTF_8)) {
            int c = x & 0xff;
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'
                    || (c == '.' && !b.isEmpty())) {
                b.append((char) c);
            } else {
                b.append('%').append(Character.toUpperCase(Character.forDigit(c >> 4, 16)))
                        .append(Character.toUpperCase(Character.forDigit(c & 0xf, 16)));
            }
        }
        if (b.length() > MAX_ENCODED) {
            throw new IllegalArgumentException("name '" + name + "' is too long for the log: its file name would have "
                    + b.length() + " characters, at most " + MAX_ENCODED + " are allowed");
        }
        return b.toString();
    }

    /** The name a file name stands for, or null if it is not one {@link #encode} makes. */
    public static String decode(String fileName) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(fileName.length());
        for (int i = 0; i < fileName.length(); i++) {
            char c = fileName.charAt(i);
            if (c == '%') {
                if (i + 2 >= fileName.length()) {
                    return null;
                }
                int hi = Character.digit(fileName.charAt(i + 1), 16);
                int lo = Character.digit(fileName.charAt(i + 2), 16);
                if (hi < 0 || lo < 0) {
                    return null;
                }
                out.write(hi << 4 | lo);
                i += 2;
            } else if (c < 0x80) {
                out.write(c);
            } else {
                return null;
            }
        }
        return out.toString(StandardCharsets.UTF_8);
    }
}
