package com.example.iothubcompat;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * The one emulator of this run: started by the first test class that needs it
 * (through {@link #get()}), stopped with SIGTERM by {@link EmulatorShutdownTest},
 * which runs last and checks the exit status.
 *
 * <p>The emulator writes its CA to {@code <data dir>/certs/ca.pem} on its first
 * start. This class turns that PEM into a PKCS#12 truststore and makes it the
 * JVM's truststore ({@code javax.net.ssl.trustStore}) before any SDK opens a
 * TLS connection: the service SDK's HTTPS clients (registry, twin, query,
 * direct methods) use the JVM default. The device client and the messaging
 * client are also given {@link #sslContext()} explicitly through their options.
 */
public final class Emulator {
    static final String BIND = "127.0.0.1";
    static final int MQTTS_PORT = 8883;
    static final int HTTPS_PORT = 443;
    static final int AMQPS_PORT = 5671;
    static final int AMQP_PORT = 5672;
    private static final Duration START_TIMEOUT = Duration.ofSeconds(30);
    private static final Duration STOP_TIMEOUT = Duration.ofSeconds(15);
    private static final char[] TRUSTSTORE_PASSWORD = "compat".toCharArray();

    private static Emulator instance;
    private static RuntimeException startFailure;

    private final Process process;
    private final Path logPath;
    private final Path caPath;
    private final SSLContext sslContext;

    private Emulator(Process process, Path logPath, Path caPath, SSLContext sslContext) {
        this.process = process;
        this.logPath = logPath;
        this.caPath = caPath;
        this.sslContext = sslContext;
    }

    /** The running emulator; starts it on the first call. Throws (never skips) if it cannot start. */
    public static synchronized Emulator get() {
        if (instance != null) {
            return instance;
        }
        if (startFailure != null) {
            throw new IllegalStateException("the emulator failed to start earlier in this run", startFailure);
        }
        try {
            instance = start();
            return instance;
        } catch (Exception e) {
            startFailure = e instanceof RuntimeException re ? re : new IllegalStateException(e.getMessage(), e);
            throw startFailure;
        }
    }

    /** Whether {@link #get()} has started an emulator in this JVM. */
    public static synchronized boolean started() {
        return instance != null;
    }

    public SSLContext sslContext() {
        return sslContext;
    }

    public Path logPath() {
        return logPath;
    }

    public Path caPath() {
        return caPath;
    }

    /**
     * Sends SIGTERM and waits for the exit; returns the exit status, or null when it
     * did not stop in time (then it is killed, after a SIGQUIT for a goroutine dump in the log).
     */
    public Integer stop() throws InterruptedException {
        process.destroy(); // SIGTERM on Linux
        if (process.waitFor(STOP_TIMEOUT.toSeconds(), TimeUnit.SECONDS)) {
            return process.exitValue();
        }
        try {
            new ProcessBuilder("kill", "-QUIT", Long.toString(process.pid())).start().waitFor(5, TimeUnit.SECONDS);
        } catch (IOException ignored) {
            // the kill below still ends it
        }
        if (!process.waitFor(5, TimeUnit.SECONDS)) {
            process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
        }
        return null;
    }

    public String logTail(int lines) {
        try {
            List<String> all = Files.readAllLines(logPath, StandardCharsets.UTF_8);
            return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
        } catch (IOException e) {
            return "(log unreadable: " + e.getMessage() + ")";
        }
    }

    private static Path binary() {
        String fromEnv = System.getenv("COMPAT_EMULATOR_BIN");
        if (fromEnv != null && !fromEnv.isEmpty()) {
            return Path.of(fromEnv);
        }
        String dir = System.getenv("COMPAT_JAVA_DIR");
        Path suiteDir = Path.of(dir != null && !dir.isEmpty() ? dir : System.getProperty("user.dir"));
        return suiteDir.resolve("../../bin/iothub-emulator").normalize();
    }

    private static void ensurePortFree(int port) throws IOException {
        try (ServerSocket socket = new ServerSocket()) {
            // As the emulator binds (Go sets SO_REUSEADDR): connections of an earlier
            // suite left in TIME_WAIT do not count, a live listener does.
            socket.setReuseAddress(true);
            socket.bind(new InetSocketAddress(InetAddress.getByName(BIND), port));
        } catch (IOException e) {
            throw new IOException("port " + BIND + ":" + port + " is not available: " + e.getMessage(), e);
        }
    }

    private static Emulator start() throws Exception {
        Path bin = binary();
        if (!Files.isExecutable(bin)) {
            throw new IllegalStateException("emulator binary " + bin + " is missing; run `make build`");
        }
        for (int port : new int[] {MQTTS_PORT, HTTPS_PORT, AMQPS_PORT, AMQP_PORT}) {
            ensurePortFree(port);
        }
        Path base = Files.createTempDirectory("iothub-compat-java-");
        Path dataDir = base.resolve("data");
        Path logPath = base.resolve("emulator.log");
        String logLevel = System.getenv().getOrDefault("COMPAT_EMULATOR_LOG_LEVEL", "info");
        List<String> command = new ArrayList<>(List.of(bin.toString(), "serve", "--bind", BIND,
                "--mqtts-port", Integer.toString(MQTTS_PORT), "--https-port", Integer.toString(HTTPS_PORT),
                "--amqps-port", Integer.toString(AMQPS_PORT), "--amqp-port", Integer.toString(AMQP_PORT),
                "--mqtt-port", "off", "--http-port", "0",
                "--data-dir", dataDir.toString(), "--log-level", logLevel));
        if (!System.getenv().getOrDefault("COMPAT_EMULATOR_DEBUG_LOG", "").isEmpty()) {
            // every REST request and MQTT packet, as JSON lines, for a failure's post-mortem
            command.addAll(List.of("--debug-log", base.resolve("debug.jsonl").toString()));
        }
        ProcessBuilder builder = new ProcessBuilder(command)
                .redirectErrorStream(true)
                .redirectOutput(logPath.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        // IOTHUB_EMULATOR_* would be read as flags by the emulator.
        builder.environment().keySet().removeIf(k -> k.startsWith("IOTHUB_EMULATOR_"));
        Process process = builder.start();
        Runtime.getRuntime().addShutdownHook(new Thread(process::destroyForcibly));
        System.out.println("compat-java: emulator log " + logPath);

        Path caPath = dataDir.resolve("certs").resolve("ca.pem");
        long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
        Exception last = null;
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new IllegalStateException("emulator exited with status " + process.exitValue()
                        + " during start-up:\n" + tail(logPath));
            }
            if (Files.exists(caPath)) {
                try {
                    SSLContext context = sslContextFor(caPath);
                    if (healthz(context) == 200) {
                        installJvmTruststore(caPath, base.resolve("truststore.p12"));
                        return new Emulator(process, logPath, caPath, context);
                    }
                } catch (Exception e) {
                    last = e; // the CA file may be half written, or the listener not up yet
                }
            }
            Thread.sleep(200);
        }
        process.destroyForcibly();
        throw new IllegalStateException("emulator not healthy within " + START_TIMEOUT.toSeconds() + "s (last error: "
                + (last == null ? "none" : last) + "):\n" + tail(logPath));
    }

    private static String tail(Path logPath) {
        try {
            List<String> all = Files.readAllLines(logPath, StandardCharsets.UTF_8);
            return String.join("\n", all.subList(Math.max(0, all.size() - 40), all.size()));
        } catch (IOException e) {
            return "";
        }
    }

    private static int healthz(SSLContext context) throws Exception {
        HttpClient client = HttpClient.newBuilder().sslContext(context).connectTimeout(Duration.ofSeconds(2)).build();
        HttpRequest request = HttpRequest.newBuilder(URI.create("https://localhost:" + HTTPS_PORT + "/healthz"))
                .timeout(Duration.ofSeconds(2)).GET().build();
        return client.send(request, HttpResponse.BodyHandlers.discarding()).statusCode();
    }

    private static KeyStore trustStoreFor(Path caPath) throws Exception {
        KeyStore store = KeyStore.getInstance("PKCS12");
        store.load(null, null);
        try (InputStream in = Files.newInputStream(caPath)) {
            int i = 0;
            for (Certificate cert : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                store.setCertificateEntry("iothub-emulator-ca-" + i++, cert);
            }
            if (i == 0) {
                throw new IllegalStateException("no certificate in " + caPath);
            }
        }
        return store;
    }

    static SSLContext sslContextFor(Path caPath) throws Exception {
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trustStoreFor(caPath));
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(null, tmf.getTrustManagers(), null);
        return context;
    }

    /** Writes the CA into a PKCS#12 file and makes it the JVM's default truststore. */
    private static void installJvmTruststore(Path caPath, Path storePath) throws Exception {
        KeyStore store = trustStoreFor(caPath);
        try (OutputStream out = Files.newOutputStream(storePath)) {
            store.store(out, TRUSTSTORE_PASSWORD);
        }
        System.setProperty("javax.net.ssl.trustStore", storePath.toString());
        System.setProperty("javax.net.ssl.trustStorePassword", new String(TRUSTSTORE_PASSWORD));
        System.setProperty("javax.net.ssl.trustStoreType", "PKCS12");
    }
}
