package com.example.iothubcompat;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.microsoft.azure.sdk.iot.device.ClientOptions;
import com.microsoft.azure.sdk.iot.device.DeviceClient;
import com.microsoft.azure.sdk.iot.device.IotHubClientProtocol;
import com.microsoft.azure.sdk.iot.device.ModuleClient;
import com.microsoft.azure.sdk.iot.service.messaging.IotHubServiceClientProtocol;
import com.microsoft.azure.sdk.iot.service.messaging.MessagingClient;
import com.microsoft.azure.sdk.iot.service.messaging.MessagingClientOptions;
import com.microsoft.azure.sdk.iot.service.registry.Device;
import com.microsoft.azure.sdk.iot.service.registry.Module;
import com.microsoft.azure.sdk.iot.service.registry.RegistryClient;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.UUID;
import java.util.function.Supplier;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/** Connection strings, clients and the emulator's read-back endpoints, shared by the tests. */
public final class Hub {
    /** The emulator's well-known hub (documented in the project README). */
    public static final String HOST = "localhost";
    /**
     * The device client reads the hub's name from the first label of the host
     * name and refuses one without a dot, such as {@code localhost}; the
     * emulator's certificate covers 127.0.0.1 too.
     */
    public static final String DEVICE_HOST = "127.0.0.1";
    private static final String OWNER_KEY_NAME = "iothubowner";
    private static final String OWNER_KEY = "NB8od74PPD3jjNrlu0L12lab0PZAWIVQPizAZTQ0otw=";
    public static final String SERVICE_CONNECTION_STRING =
            "HostName=" + HOST + ";SharedAccessKeyName=" + OWNER_KEY_NAME + ";SharedAccessKey=" + OWNER_KEY;

    private Hub() {
    }

    public static String uniqueId(String prefix) {
        return prefix + "-" + UUID.randomUUID().toString().replace("-", "").substring(0, 10);
    }

    public static String deviceConnectionString(Device device) {
        return "HostName=" + DEVICE_HOST + ";DeviceId=" + device.getDeviceId() + ";SharedAccessKey=" + device.getPrimaryKey();
    }

    public static String moduleConnectionString(Module module) {
        return "HostName=" + DEVICE_HOST + ";DeviceId=" + module.getDeviceId() + ";ModuleId=" + module.getId()
                + ";SharedAccessKey=" + module.getPrimaryKey();
    }

    /** Device client options: trust the emulator's CA through the SDK's own option. */
    public static ClientOptions deviceOptions() {
        return ClientOptions.builder().sslContext(Emulator.get().sslContext()).build();
    }

    public static DeviceClient deviceClient(Device device, IotHubClientProtocol protocol) {
        return new DeviceClient(deviceConnectionString(device), protocol, deviceOptions());
    }

    public static ModuleClient moduleClient(Module module, IotHubClientProtocol protocol) {
        return new ModuleClient(moduleConnectionString(module), protocol, deviceOptions());
    }

    public static RegistryClient registry() {
        Emulator.get(); // the JVM truststore holds the CA from here on
        return new RegistryClient(SERVICE_CONNECTION_STRING);
    }

    public static MessagingClient messagingClient(IotHubServiceClientProtocol protocol) {
        MessagingClientOptions options = MessagingClientOptions.builder().sslContext(Emulator.get().sslContext()).build();
        return new MessagingClient(SERVICE_CONNECTION_STRING, protocol, options);
    }

    /** A service SAS token for the emulator's own REST endpoints. */
    public static String serviceSasToken() {
        try {
            long expiry = System.currentTimeMillis() / 1000 + 3600;
            String resource = URLEncoder.encode(HOST, StandardCharsets.UTF_8);
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(Base64.getDecoder().decode(OWNER_KEY), "HmacSHA256"));
            byte[] sig = mac.doFinal((resource + "\n" + expiry).getBytes(StandardCharsets.UTF_8));
            return "SharedAccessSignature sr=" + resource
                    + "&sig=" + URLEncoder.encode(Base64.getEncoder().encodeToString(sig), StandardCharsets.UTF_8)
                    + "&se=" + expiry + "&skn=" + OWNER_KEY_NAME;
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** GET on the emulator's HTTPS port with a service token; fails unless it answers 200 with JSON. */
    public static JsonElement getJson(String pathAndQuery, Duration timeout) throws Exception {
        HttpClient client = HttpClient.newBuilder().sslContext(Emulator.get().sslContext())
                .connectTimeout(Duration.ofSeconds(5)).build();
        HttpRequest request = HttpRequest.newBuilder(URI.create("https://" + HOST + ":" + Emulator.HTTPS_PORT + pathAndQuery))
                .header("Authorization", serviceSasToken()).timeout(timeout).GET().build();
        HttpResponse<String> response = client.send(request, HttpResponse.BodyHandlers.ofString());
        if (response.statusCode() != 200) {
            throw new AssertionError("GET " + pathAndQuery + ": " + response.statusCode() + " " + response.body());
        }
        return JsonParser.parseString(response.body());
    }

    /**
     * The first {@code count} telemetry messages of the device, read back from
     * {@code GET /emulator/messages/events} (long-polling); fails after the timeout
     * or when more than {@code count} arrived.
     */
    public static List<JsonObject> waitEvents(String deviceId, int count, Duration timeout) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        List<JsonObject> got = new ArrayList<>();
        String from = null;
        while (got.size() < count) {
            long leftSeconds = Duration.ofNanos(deadline - System.nanoTime()).toSeconds();
            if (leftSeconds <= 0) {
                throw new AssertionError(got.size() + " of " + count + " messages from " + deviceId + " within " + timeout + ": " + got);
            }
            long wait = Math.max(1, Math.min(5, leftSeconds));
            String query = "?deviceId=" + URLEncoder.encode(deviceId, StandardCharsets.UTF_8) + "&waitSeconds=" + wait
                    + (from == null ? "" : "&fromSequenceNumber=" + from);
            JsonObject page = getJson("/emulator/messages/events" + query, Duration.ofSeconds(wait + 30)).getAsJsonObject();
            JsonArray messages = page.getAsJsonArray("messages");
            messages.forEach(m -> got.add(m.getAsJsonObject()));
            if (page.has("nextSequenceNumber") && !page.get("nextSequenceNumber").isJsonNull()) {
                from = page.get("nextSequenceNumber").getAsString();
            }
        }
        if (got.size() != count) {
            throw new AssertionError("want " + count + " messages from " + deviceId + ", got " + got.size() + ": " + got);
        }
        return got;
    }

    /** Polls until the supplier gives a non-null value; fails after the timeout. */
    public static <T> T waitFor(Supplier<T> supplier, Duration timeout, String what) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            T value = supplier.get();
            if (value != null) {
                return value;
            }
            Thread.sleep(100);
        }
        throw new AssertionError(what + " not met within " + timeout);
    }
}
