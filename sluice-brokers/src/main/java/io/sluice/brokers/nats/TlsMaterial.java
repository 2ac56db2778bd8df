package io.sluice.brokers.nats;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.Key;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Throw-away TLS material for a test server, made with the JDK's own {@code keytool}: a CA, a server certificate it
 * signed for {@code 127.0.0.1} and {@code localhost}, the server's key as PEM (what nats-server reads), and a
 * PKCS#12 trust store holding only the CA (what a Java client reads). Valid for two days.
 *
 * @param caCertificate     the CA certificate, PEM
 * @param serverCertificate the server certificate, PEM
 * @param serverKey         the server's private key, PKCS#8 PEM
 * @param trustStore        a PKCS#12 store with the CA as its only trusted entry
 * @param trustStorePassword the trust store's password
 */
public record TlsMaterial(Path caCertificate, Path serverCertificate, Path serverKey, Path trustStore,
                          String trustStorePassword) {

    /** Generates fresh material in {@code directory}. Takes about a second (four keytool runs). */
    public static TlsMaterial generate(Path directory) {
        try {
            Files.createDirectories(directory);
            String pw = Long.toHexString(Double.doubleToLongBits(Math.random()));
            Path ca = directory.resolve("ca.p12");
            Path server = directory.resolve("server.p12");
            Path csr = directory.resolve("server.csr");
            Path serverPem = directory.resolve("server-cert.pem");
            Path caPem = directory.resolve("ca-cert.pem");
            Path keyPem = directory.resolve("server-key.pem");
            Path trust = directory.resolve("truststore.p12");
            keytool("-genkeypair", "-alias", "ca", "-keyalg", "EC", "-groupname", "secp256r1",
                    "-dname", "CN=Sluice Test CA", "-ext", "bc:c", "-validity", "2",
                    "-keystore", ca.toString(), "-storetype", "PKCS12", "-storepass", pw);
            keytool("-genkeypair", "-alias", "server", "-keyalg", "EC", "-groupname", "secp256r1",
                    "-dname", "CN=127.0.0.1", "-validity", "2",
                    "-keystore", server.toString(), "-storetype", "PKCS12", "-storepass", pw);
            keytool("-certreq", "-alias", "server", "-keystore", server.toString(), "-storepass", pw,
                    "-file", csr.toString());
            keytool("-gencert", "-alias", "ca", "-keystore", ca.toString(), "-storepass", pw,
                    "-infile", csr.toString(), "-outfile", serverPem.toString(), "-rfc", "-validity", "2",
                    "-ext", "SAN=ip:127.0.0.1,dns:localhost", "-ext", "EKU=serverAuth");
            keytool("-exportcert", "-alias", "ca", "-keystore", ca.toString(), "-storepass", pw,
                    "-rfc", "-file", caPem.toString());

            KeyStore serverStore = load(server, pw);
            Key key = serverStore.getKey("server", pw.toCharArray());
            Files.writeString(keyPem, pem("PRIVATE KEY", key.getEncoded()));

            KeyStore trustStore = KeyStore.getInstance("PKCS12");
            trustStore.load(null, null);
            try (InputStream in = Files.newInputStream(caPem)) {
                Certificate caCert = CertificateFactory.getInstance("X.509").generateCertificate(in);
                trustStore.setCertificateEntry("sluice-test-ca", caCert);
            }
            try (OutputStream out = Files.newOutputStream(trust)) {
                trustStore.store(out, pw.toCharArray());
            }
            return new TlsMaterial(caPem, serverPem, keyPem, trust, pw);
        } catch (IOException e) {
            throw new UncheckedIOException("could not generate TLS material in " + directory, e);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("could not generate TLS material in " + directory, e);
        }
    }

    private static KeyStore load(Path file, String pw) throws IOException, GeneralSecurityException {
        KeyStore ks = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(file)) {
            ks.load(in, pw.toCharArray());
        }
        return ks;
    }

    private static String pem(String type, byte[] der) {
        return "-----BEGIN " + type + "-----\n"
                + Base64.getMimeEncoder(64, new byte[]{'\n'}).encodeToString(der)
                + "\n-----END " + type + "-----\n";
    }

    private static void keytool(String... args) throws IOException {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "keytool").toString());
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes());
        try {
            if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
                throw new IOException("keytool " + args[0] + " failed: " + output);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while running keytool " + args[0], e);
        }
    }

    @Override
    public String toString() {
        return "TlsMaterial{ca=" + caCertificate + ", cert=" + serverCertificate + ", trustStore=" + trustStore + '}';
    }
}
