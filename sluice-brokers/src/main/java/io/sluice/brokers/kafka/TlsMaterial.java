package io.sluice.brokers.kafka;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A throw-away TLS identity for a test broker: a PKCS12 key store holding a self-signed certificate for
 * {@code localhost} and {@code 127.0.0.1}, and a PKCS12 trust store holding that certificate for clients. Generated
 * with the JDK's {@code keytool}, so nothing is downloaded and no key material is checked in.
 *
 * <p>Immutable. The password is a random test secret; {@link #toString()} does not print it.
 *
 * @param keyStore   the broker's key store (PKCS12)
 * @param trustStore the clients' trust store (PKCS12)
 * @param password   the password of both stores and of the key
 */
public record TlsMaterial(Path keyStore, Path trustStore, String password) {

    /** Generates a new identity in {@code dir}; takes about a second (three keytool runs). */
    public static TlsMaterial generate(Path dir) throws IOException {
        Files.createDirectories(dir);
        byte[] secret = new byte[12];
        new SecureRandom().nextBytes(secret);
        String password = HexFormat.of().formatHex(secret);
        Path keyStore = dir.resolve("broker.p12");
        Path certificate = dir.resolve("broker.crt");
        Path trustStore = dir.resolve("truststore.p12");
        keytool("-genkeypair", "-alias", "broker", "-keyalg", "EC", "-groupname", "secp256r1", "-validity", "7",
                "-dname", "CN=localhost", "-ext", "SAN=dns:localhost,ip:127.0.0.1", "-keystore", keyStore.toString(),
                "-storetype", "PKCS12", "-storepass", password, "-keypass", password);
        keytool("-exportcert", "-alias", "broker", "-rfc", "-keystore", keyStore.toString(), "-storepass", password,
                "-file", certificate.toString());
        keytool("-importcert", "-noprompt", "-alias", "broker", "-file", certificate.toString(), "-keystore",
                trustStore.toString(), "-storetype", "PKCS12", "-storepass", password);
        return new TlsMaterial(keyStore, trustStore, password);
    }

    private static void keytool(String... args) throws IOException {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "keytool").toString());
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        try {
            boolean done = p.waitFor(60, TimeUnit.SECONDS);
            String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!done || p.exitValue() != 0) {
                p.destroyForcibly();
                throw new IOException("keytool " + args[0] + " failed: " + output.strip());
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while running keytool " + args[0], e);
        }
    }

    @Override
    public String toString() {
        return "TlsMaterial{keyStore=" + keyStore + ", trustStore=" + trustStore + ", password=[hidden]}";
    }
}
