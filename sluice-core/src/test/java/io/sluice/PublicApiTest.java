package io.sluice;

import org.junit.jupiter.api.Test;

import java.lang.reflect.Constructor;
import java.lang.reflect.Executable;
import java.lang.reflect.Field;
import java.lang.reflect.GenericArrayType;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.lang.reflect.TypeVariable;
import java.lang.reflect.WildcardType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The public API of sluice-core names no type of an {@code internal} package: what an application can see of a
 * public class (its supertypes and its public and protected members) must stay usable when internal packages are not
 * exported.
 */
class PublicApiTest {

    @Test
    void shouldNameNoInternalTypeInAPublicOrProtectedSignature() throws Exception {
        Path root = Path.of(Sluice.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        List<String> leaks = new ArrayList<>();
        try (Stream<Path> files = Files.walk(root)) {
            for (Path file : files.filter(f -> f.toString().endsWith(".class")).toList()) {
                String name = root.relativize(file).toString().replace(file.getFileSystem().getSeparator(), ".")
                        .replaceAll("\\.class$", "");
                if (name.contains(".internal.") || name.equals("module-info")) {
                    continue;
                }
                Class<?> type = Class.forName(name, false, getClass().getClassLoader());
                if (isVisible(type)) {
                    check(type, leaks);
                }
            }
        }
        assertThat(leaks).as("internal types in public signatures of sluice-core").isEmpty();
    }

    /** Public, and nested only in public types. */
    private static boolean isVisible(Class<?> type) {
        for (Class<?> c = type; c != null; c = c.getDeclaringClass()) {
            if (!Modifier.isPublic(c.getModifiers()) || c.isAnonymousClass() || c.isLocalClass()) {
                return false;
            }
        }
        return true;
    }

    private static void check(Class<?> type, List<String> leaks) {
        String where = type.getName();
        check(where + " extends", type.getGenericSuperclass(), leaks);
        for (Type t : type.getGenericInterfaces()) {
            check(where + " implements", t, leaks);
        }
        for (Field f : type.getDeclaredFields()) {
            if (isExposed(f.getModifiers(), type)) {
                check(where + "." + f.getName(), f.getGenericType(), leaks);
            }
        }
        for (Method m : type.getDeclaredMethods()) {
            if (!m.isSynthetic() && isExposed(m.getModifiers(), type)) {
                check(where + "." + m.getName() + " returns", m.getGenericReturnType(), leaks);
                checkExecutable(where + "." + m.getName(), m, leaks);
            }
        }
        for (Constructor<?> c : type.getDeclaredConstructors()) {
            if (!c.isSynthetic() && isExposed(c.getModifiers(), type)) {
                checkExecutable(where + ".<init>", c, leaks);
            }
        }
    }

    private static boolean isExposed(int modifiers, Class<?> owner) {
        return Modifier.isPublic(modifiers) || (Modifier.isProtected(modifiers) && !Modifier.isFinal(owner.getModifiers()));
    }

    private static void checkExecutable(String where, Executable e, List<String> leaks) {
        for (Type t : e.getGenericParameterTypes()) {
            check(where + " takes", t, leaks);
        }
        for (Type t : e.getGenericExceptionTypes()) {
            check(where + " throws", t, leaks);
        }
    }

    private static void check(String where, Type t, List<String> leaks) {
        if (t == null) {
            return;
        }
        if (t instanceof Class<?> c) {
            while (c.isArray()) {
                c = c.getComponentType();
            }
            if (c.getName().contains(".internal.")) {
                leaks.add(where + " " + c.getName());
            }
        } else if (t instanceof ParameterizedType p) {
            check(where, p.getRawType(), leaks);
            for (Type a : p.getActualTypeArguments()) {
                check(where, a, leaks);
            }
        } else if (t instanceof GenericArrayType g) {
            check(where, g.getGenericComponentType(), leaks);
        } else if (t instanceof WildcardType w) {
            for (Type b : w.getUpperBounds()) {
                check(where, b, leaks);
            }
            for (Type b : w.getLowerBounds()) {
                check(where, b, leaks);
            }
        } else if (t instanceof TypeVariable<?> v) {
            for (Type b : v.getBounds()) { // raw bounds only: T extends Comparable<T> would recurse
                check(where, b instanceof ParameterizedType p ? p.getRawType() : b, leaks);
            }
        }
    }
}
