package io.sluice.boundaries;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.Constructor;
import java.lang.reflect.Field;
import java.lang.reflect.Member;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.Type;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Sluice's module boundaries, checked on the compiled classes of every module: a package named {@code internal}
 * (such as {@code io.sluice.internal.engine} or {@code io.sluice.log.internal}) belongs to its module alone.
 * <ol>
 * <li>No module uses another module's internal package (read from each class file's constant pool, so method bodies
 * count too).</li>
 * <li>No public or protected signature of a public type in an exported (non-internal) package mentions an internal
 * type: a user could not call it without reaching into the internals.</li>
 * </ol>
 *
 * <p>Why a test and not {@code module-info.java}: today several modules (testkit, the CLI, the benchmarks) use core's
 * internal engine types, and the tests of every module run on the class path with test-only packages split across
 * modules; declaring JPMS modules would have to fix all of that at once. This check enforces the same rule on the
 * class path, where every user runs Sluice, and fails the build naming each offending use. {@link #KNOWN} lists the
 * two test tools that reach into core on purpose (testkit's crash simulation abandons an engine; a micro-benchmark
 * times the publisher alone); it may only shrink.
 */
class ModuleBoundariesTest {
    /** Test tools' uses of core internals (not shipped to applications); nothing may be added here. */
    private static final Set<String> KNOWN = Set.of(
            "sluice-testkit: io.sluice.testkit.Subscriptions uses io.sluice.internal.engine.ConsumerEngine of sluice-core",
            "sluice-bench: io.sluice.bench.micro.PublisherMicro uses io.sluice.internal.publish.BoundedPublisher of sluice-core");

    private static final Pattern INTERNAL_REF = Pattern.compile("io/sluice/(?:[a-z0-9_]+/)*internal/[A-Za-z0-9_/$]+");
    private static final Pattern INTERNAL_NAME = Pattern.compile("io\\.sluice\\.(?:[a-z0-9_]+\\.)*internal\\.[A-Za-z0-9_.$]+");

    /** Class name (binary, dotted) to the module that holds it. */
    private static final Map<String, String> MODULE_OF = new HashMap<>();
    /** Per module, its classes' binary names and class file bytes. */
    private static final Map<String, Map<String, byte[]>> CLASSES = new HashMap<>();
    /** Per module read from a jar (a build past {@code package}), its manifest's Automatic-Module-Name (or null). */
    private static final Map<String, String> MODULE_NAMES = new HashMap<>();

    @BeforeAll
    static void readModules() throws IOException {
        for (String entry : System.getProperty("java.class.path").split(java.io.File.pathSeparator)) {
            Path path = Path.of(entry);
            String module = moduleOf(path);
            if (module == null || module.equals("sluice-boundaries") || !Files.exists(path)) {
                continue;
            }
            Map<String, byte[]> classes = CLASSES.computeIfAbsent(module, m -> new HashMap<>());
            if (Files.isDirectory(path)) {
                try (Stream<Path> files = Files.walk(path)) {
                    for (Path f : (Iterable<Path>) files.filter(p -> p.toString().endsWith(".class"))::iterator) {
                        classes.put(binaryName(path.relativize(f).toString().replace('\\', '/')), Files.readAllBytes(f));
                    }
                }
            } else {
                try (JarFile jar = new JarFile(path.toFile())) {
                    MODULE_NAMES.put(module, jar.getManifest() == null ? null
                            : jar.getManifest().getMainAttributes().getValue("Automatic-Module-Name"));
                    for (Enumeration<JarEntry> e = jar.entries(); e.hasMoreElements(); ) {
                        JarEntry je = e.nextElement();
                        if (je.getName().endsWith(".class") && !je.getName().startsWith("META-INF/")) {
                            try (InputStream in = jar.getInputStream(je)) {
                                classes.put(binaryName(je.getName()), in.readAllBytes());
                            }
                        }
                    }
                }
            }
            classes.keySet().forEach(c -> MODULE_OF.put(c, module));
        }
    }

    /** The Sluice module a class path entry is (its target/classes or its jar), or null for a library. */
    private static String moduleOf(Path entry) {
        String name = entry.getFileName() == null ? "" : entry.getFileName().toString();
        if (name.equals("classes") && entry.getParent() != null && entry.getParent().getParent() != null
                && entry.getParent().getFileName().toString().equals("target")) {
            String module = entry.getParent().getParent().getFileName().toString();
            return module.startsWith("sluice-") ? module : null;
        }
        Matcher jar = Pattern.compile("(sluice-[a-z]+)(-[0-9].*)?\\.jar").matcher(name);
        return jar.matches() ? jar.group(1) : null;
    }

    private static String binaryName(String classFile) {
        return classFile.substring(0, classFile.length() - ".class".length()).replace('/', '.');
    }

    @Test
    void shouldSeeEveryModule() {
        assertThat(CLASSES.keySet()).as("modules read").contains("sluice-core", "sluice-log", "sluice-kafka",
                "sluice-nats", "sluice-observability", "sluice-resilience", "sluice-testkit", "sluice-cli",
                "sluice-bench");
        assertThat(MODULE_OF).as("classes read").containsKey("io.sluice.Sluice");
    }

    @Test
    void shouldUseNoOtherModulesInternalPackage() throws IOException {
        Set<String> found = new TreeSet<>();
        for (Map.Entry<String, Map<String, byte[]>> module : CLASSES.entrySet()) {
            for (Map.Entry<String, byte[]> c : module.getValue().entrySet()) {
                for (String utf8 : constantPoolStrings(c.getValue())) {
                    Matcher m = INTERNAL_REF.matcher(utf8);
                    while (m.find()) {
                        String used = m.group().replace('/', '.');
                        String owner = MODULE_OF.get(used);
                        if (owner != null && !owner.equals(module.getKey())) {
                            found.add(module.getKey() + ": " + topLevel(c.getKey()) + " uses " + topLevel(used)
                                    + " of " + owner);
                        }
                    }
                }
            }
        }
        assertNoNewViolations(found);
    }

    @Test
    void shouldMentionNoInternalTypeInAPublicSignature() throws Exception {
        Set<String> found = new TreeSet<>();
        ClassLoader loader = ModuleBoundariesTest.class.getClassLoader();
        for (Map.Entry<String, Map<String, byte[]>> module : CLASSES.entrySet()) {
            for (String name : module.getValue().keySet()) {
                if (INTERNAL_NAME.matcher(name).lookingAt() || name.endsWith("module-info")
                        || name.endsWith("package-info")) {
                    continue;
                }
                Class<?> type = Class.forName(name, false, loader);
                if (!isApi(type)) {
                    continue;
                }
                for (String mentioned : internalTypesIn(type)) {
                    found.add(module.getKey() + ": public " + topLevel(name) + " mentions " + mentioned);
                }
            }
        }
        assertNoNewViolations(found);
    }

    /**
     * On the module path each jar is a module, and two modules may not hold the same package: Java refuses to start.
     */
    @Test
    void shouldSplitNoPackageAcrossModules() {
        Map<String, Set<String>> modulesOfPackage = new HashMap<>();
        MODULE_OF.forEach((c, module) -> {
            int dot = c.lastIndexOf('.');
            modulesOfPackage.computeIfAbsent(dot < 0 ? "" : c.substring(0, dot), p -> new TreeSet<>()).add(module);
        });
        modulesOfPackage.values().removeIf(modules -> modules.size() == 1);
        assertThat(modulesOfPackage).as("packages held by more than one module").isEmpty();
    }

    /** Jars (read when the build has packaged the modules, as {@code ./mvnw verify} does) name their module. */
    @Test
    void shouldNameEachJarsModule() {
        MODULE_NAMES.forEach((module, name) -> assertThat(name).as("Automatic-Module-Name of " + module)
                .isEqualTo("io.sluice." + module.substring("sluice-".length())));
    }

    private static void assertNoNewViolations(Set<String> found) {
        Set<String> added = new TreeSet<>(found);
        added.removeAll(KNOWN);
        assertThat(added).as("uses of internal packages across the module boundary (make the type public API in an "
                + "exported package, or keep the use inside its module)").isEmpty();
    }

    /** A public type a user can reach: public, and so is every type enclosing it. */
    private static boolean isApi(Class<?> type) {
        for (Class<?> c = type; c != null; c = c.getEnclosingClass()) {
            if (!Modifier.isPublic(c.getModifiers())) {
                return false;
            }
        }
        return !type.isSynthetic() && !type.isAnonymousClass();
    }

    /** Internal types named in the public or protected signatures of {@code type}. */
    private static Set<String> internalTypesIn(Class<?> type) {
        List<Type> types = new ArrayList<>();
        if (type.getGenericSuperclass() != null) {
            types.add(type.getGenericSuperclass());
        }
        types.addAll(List.of(type.getGenericInterfaces()));
        boolean extendable = !Modifier.isFinal(type.getModifiers());
        for (Constructor<?> c : type.getDeclaredConstructors()) {
            if (visible(c, extendable)) {
                types.addAll(List.of(c.getGenericParameterTypes()));
                types.addAll(List.of(c.getGenericExceptionTypes()));
            }
        }
        for (Method m : type.getDeclaredMethods()) {
            if (visible(m, extendable) && !m.isBridge()) {
                types.add(m.getGenericReturnType());
                types.addAll(List.of(m.getGenericParameterTypes()));
                types.addAll(List.of(m.getGenericExceptionTypes()));
            }
        }
        for (Field f : type.getDeclaredFields()) {
            if (visible(f, extendable)) {
                types.add(f.getGenericType());
            }
        }
        Set<String> internal = new LinkedHashSet<>();
        for (Type t : types) {
            Matcher m = INTERNAL_NAME.matcher(t.getTypeName());
            while (m.find()) {
                internal.add(topLevel(m.group()));
            }
        }
        return internal;
    }

    /** Public members, and protected ones of a class a user can extend. */
    private static boolean visible(Member m, boolean extendable) {
        int mod = m.getModifiers();
        return !m.isSynthetic() && (Modifier.isPublic(mod) || (extendable && Modifier.isProtected(mod)));
    }

    private static String topLevel(String binaryName) {
        int nested = binaryName.indexOf('$');
        return nested < 0 ? binaryName : binaryName.substring(0, nested);
    }

    /** The UTF-8 entries of a class file's constant pool: every class, descriptor and signature it refers to. */
    private static List<String> constantPoolStrings(byte[] classFile) throws IOException {
        DataInputStream in = new DataInputStream(new java.io.ByteArrayInputStream(classFile));
        if (in.readInt() != 0xCAFEBABE) {
            throw new IOException("not a class file");
        }
        in.readUnsignedShort(); // minor
        in.readUnsignedShort(); // major
        int count = in.readUnsignedShort();
        List<String> strings = new ArrayList<>();
        for (int i = 1; i < count; i++) {
            int tag = in.readUnsignedByte();
            switch (tag) {
                case 1 -> strings.add(in.readUTF());
                case 7, 8, 16, 19, 20 -> in.skipNBytes(2);
                case 15 -> in.skipNBytes(3);
                case 3, 4, 9, 10, 11, 12, 17, 18 -> in.skipNBytes(4);
                case 5, 6 -> {
                    in.skipNBytes(8);
                    i++; // takes two entries
                }
                default -> throw new IOException("unknown constant pool tag " + tag);
            }
        }
        return strings;
    }
}
