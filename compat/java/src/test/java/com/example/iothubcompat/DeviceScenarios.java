package com.example.iothubcompat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.microsoft.azure.sdk.iot.device.DeviceClient;
import com.microsoft.azure.sdk.iot.device.IotHubClientProtocol;
import com.microsoft.azure.sdk.iot.device.IotHubMessageResult;
import com.microsoft.azure.sdk.iot.device.IotHubStatusCode;
import com.microsoft.azure.sdk.iot.device.exceptions.IotHubClientException;
import com.microsoft.azure.sdk.iot.device.Message;
import com.microsoft.azure.sdk.iot.device.ModuleClient;
import com.microsoft.azure.sdk.iot.device.twin.DirectMethodResponse;
import com.microsoft.azure.sdk.iot.device.twin.ReportedPropertiesUpdateResponse;
import com.microsoft.azure.sdk.iot.service.messaging.AcknowledgementType;
import com.microsoft.azure.sdk.iot.service.messaging.DeliveryAcknowledgement;
import com.microsoft.azure.sdk.iot.service.messaging.FeedbackBatch;
import com.microsoft.azure.sdk.iot.service.messaging.FeedbackRecord;
import com.microsoft.azure.sdk.iot.service.messaging.FeedbackStatusCode;
import com.microsoft.azure.sdk.iot.service.messaging.IotHubServiceClientProtocol;
import com.microsoft.azure.sdk.iot.service.messaging.MessageFeedbackProcessorClient;
import com.microsoft.azure.sdk.iot.service.messaging.MessageFeedbackProcessorClientOptions;
import com.microsoft.azure.sdk.iot.service.messaging.MessagingClient;
import com.microsoft.azure.sdk.iot.service.methods.DirectMethodRequestOptions;
import com.microsoft.azure.sdk.iot.service.methods.DirectMethodsClient;
import com.microsoft.azure.sdk.iot.service.registry.Device;
import com.microsoft.azure.sdk.iot.service.registry.Module;
import com.microsoft.azure.sdk.iot.service.registry.RegistryClient;
import com.microsoft.azure.sdk.iot.service.twin.Twin;
import com.microsoft.azure.sdk.iot.service.twin.TwinClient;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * What a device does with the Java device client, over the transport each test
 * is given by the subclass's static {@code protocols()} source: telemetry,
 * cloud-to-device messages, direct methods and the twin, with the Java service
 * client on the other end.
 */
abstract class DeviceScenarios {
    private static final int OPERATION_TIMEOUT_MS = 20_000;
    private static final int TWIN_ATTEMPT_TIMEOUT_MS = 8_000;
    private static final int TWIN_ATTEMPTS = 3;

    private RegistryClient registry;
    private final List<String> deviceIds = new ArrayList<>();
    private final List<AutoCloseable> closers = new ArrayList<>();

    @BeforeAll
    static void startEmulator() {
        Emulator.get();
    }

    @BeforeEach
    void setUp() {
        registry = Hub.registry();
    }

    @AfterEach
    void cleanUp() {
        for (int i = closers.size() - 1; i >= 0; i--) {
            try {
                closers.get(i).close();
            } catch (Exception ignored) {
                // a failed close must not hide the test's own result
            }
        }
        for (String id : deviceIds) {
            try {
                registry.removeDevice(id);
            } catch (Exception ignored) {
                // already gone
            }
        }
    }

    private Device createDevice(String prefix) throws Exception {
        Device device = registry.addDevice(new Device(Hub.uniqueId(prefix)));
        deviceIds.add(device.getDeviceId());
        return device;
    }

    /**
     * Runs a twin request-response call (reported patch, get twin), trying it again,
     * up to TWIN_ATTEMPTS times in all, when the SDK times out waiting for the
     * response.
     *
     * <p>iot-device-client 2.5.0 can lose a twin response whatever the hub does:
     * {@code IotHubTransport.onMessageReceived} first queues the response for the
     * receive task and only then looks up the request's callback, while the receive
     * task, once it has handled the response, removes that callback on a new thread.
     * When the removal wins, the response (which the client did receive, as its trace
     * log shows) completes nothing and the call times out. It hit one call in most
     * runs of this suite (over AMQP mostly, over MQTT too), with this emulator and
     * with earlier ones alike, and once two tries of the same call in a row, so one
     * retry was not enough. Both calls are idempotent, so trying again is safe; a
     * hub that never answers still fails the test.
     */
    private static <T> T twinCall(String what, TwinCall<T> call) throws Exception {
        for (int attempt = 1; ; attempt++) {
            try {
                return call.run(TWIN_ATTEMPT_TIMEOUT_MS);
            } catch (IotHubClientException e) {
                if (e.getStatusCode() != IotHubStatusCode.DEVICE_OPERATION_TIMED_OUT || attempt == TWIN_ATTEMPTS) {
                    throw e;
                }
                System.out.println("compat-java: " + what + " timed out in the SDK (its lost-response race); trying again");
            }
        }
    }

    @FunctionalInterface
    private interface TwinCall<T> {
        T run(int timeoutMilliseconds) throws Exception;
    }

    private DeviceClient openDevice(Device device, IotHubClientProtocol protocol) throws Exception {
        DeviceClient client = Hub.deviceClient(device, protocol);
        client.setOperationTimeout(OPERATION_TIMEOUT_MS);
        closers.add(client::close);
        client.open(false);
        return client;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("protocols")
    void telemetryArrivesWithItsProperties(IotHubClientProtocol protocol) throws Exception {
        Device device = createDevice("j-tel");
        DeviceClient client = openDevice(device, protocol);
        String body = "{\"temperature\":21.5,\"unit\":\"°C\"}";
        Message message = new Message(body.getBytes(StandardCharsets.UTF_8));
        message.setMessageId("msg-0001");
        message.setCorrelationId("corr-42");
        message.setContentType("application/json");
        message.setContentEncoding("utf-8");
        message.setProperty("alert", "true");
        message.setProperty("with space", "a&b=c/d");
        client.sendEvent(message, OPERATION_TIMEOUT_MS);
        client.sendEvent(new Message("second"), OPERATION_TIMEOUT_MS);

        List<JsonObject> got = Hub.waitEvents(device.getDeviceId(), 2, Duration.ofSeconds(15));
        JsonObject first = got.get(0);
        assertEquals(device.getDeviceId(), first.get("deviceId").getAsString());
        assertEquals(body, first.get("bodyText").getAsString());
        JsonObject sys = first.getAsJsonObject("systemProperties");
        assertEquals("msg-0001", sys.get("message-id").getAsString());
        assertEquals("corr-42", sys.get("correlation-id").getAsString());
        assertEquals("application/json", sys.get("content-type").getAsString());
        assertEquals("utf-8", sys.get("content-encoding").getAsString());
        assertEquals(device.getDeviceId(), sys.get("iothub-connection-device-id").getAsString());
        JsonObject props = first.getAsJsonObject("properties");
        assertEquals("true", props.get("alert").getAsString());
        assertEquals("a&b=c/d", props.get("with space").getAsString());
        assertEquals("second", got.get(1).get("bodyText").getAsString(), "messages keep their order");
    }

    // ModuleClient.open over MQTT subscribes to
    // devices/{d}/modules/{m}/messages/devicebound/# (as it does against IoT
    // Hub), which the emulator must grant.
    @ParameterizedTest(name = "{0}")
    @MethodSource("protocols")
    void moduleTelemetryIsTaggedWithTheModule(IotHubClientProtocol protocol) throws Exception {
        Device device = createDevice("j-modtel");
        Module module = registry.addModule(new Module(device.getDeviceId(), Hub.uniqueId("m")));
        ModuleClient client = Hub.moduleClient(module, protocol);
        client.setOperationTimeout(OPERATION_TIMEOUT_MS);
        closers.add(client::close);
        client.open(false);
        client.sendEvent(new Message("from the module"), OPERATION_TIMEOUT_MS);

        JsonObject got = Hub.waitEvents(device.getDeviceId(), 1, Duration.ofSeconds(15)).get(0);
        assertEquals("from the module", got.get("bodyText").getAsString());
        assertEquals(module.getId(),
                got.getAsJsonObject("systemProperties").get("iothub-connection-module-id").getAsString());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("protocols")
    void cloudToDeviceMessageIsReceivedAndCompletedWithFeedback(IotHubClientProtocol protocol) throws Exception {
        Device device = createDevice("j-c2d");
        BlockingQueue<Message> received = new LinkedBlockingQueue<>();
        DeviceClient client = Hub.deviceClient(device, protocol);
        client.setOperationTimeout(OPERATION_TIMEOUT_MS);
        client.setMessageCallback((message, context) -> {
            received.add(message);
            return IotHubMessageResult.COMPLETE;
        }, null);
        closers.add(client::close);
        client.open(false);

        List<FeedbackRecord> feedback = new CopyOnWriteArrayList<>();
        MessageFeedbackProcessorClient feedbackClient = new MessageFeedbackProcessorClient(
                Hub.SERVICE_CONNECTION_STRING, IotHubServiceClientProtocol.AMQPS,
                (FeedbackBatch batch) -> {
                    feedback.addAll(batch.getRecords());
                    return AcknowledgementType.COMPLETE;
                },
                MessageFeedbackProcessorClientOptions.builder().sslContext(Emulator.get().sslContext()).build());
        feedbackClient.start(OPERATION_TIMEOUT_MS);
        closers.add(feedbackClient::stop);

        MessagingClient messaging = Hub.messagingClient(IotHubServiceClientProtocol.AMQPS);
        messaging.open(OPERATION_TIMEOUT_MS);
        closers.add(messaging::close);
        com.microsoft.azure.sdk.iot.service.messaging.Message sent =
                new com.microsoft.azure.sdk.iot.service.messaging.Message("hello device");
        String messageId = Hub.uniqueId("c2d");
        sent.setMessageId(messageId);
        sent.setCorrelationId("corr-c2d");
        sent.setDeliveryAcknowledgement(DeliveryAcknowledgement.Full);
        Map<String, String> properties = new HashMap<>();
        properties.put("colour", "blue");
        sent.setProperties(properties);
        messaging.send(device.getDeviceId(), sent, OPERATION_TIMEOUT_MS);

        Message got = received.poll(20, TimeUnit.SECONDS);
        assertNotNull(got, "no cloud-to-device message within 20 s");
        assertEquals("hello device", new String(got.getBytes(), StandardCharsets.UTF_8));
        assertEquals(messageId, got.getMessageId());
        assertEquals("corr-c2d", got.getCorrelationId());
        assertEquals("blue", got.getProperty("colour"));
        // The device client does not surface iothub-ack (its MQTT parser drops
        // it); the Success feedback below shows that the ack request went through.

        FeedbackRecord record = Hub.waitFor(
                () -> feedback.stream().filter(r -> messageId.equals(r.getOriginalMessageId())).findFirst().orElse(null),
                Duration.ofSeconds(20), "a feedback record for " + messageId);
        assertEquals(FeedbackStatusCode.success, record.getStatusCode());
        assertEquals(device.getDeviceId(), record.getDeviceId());
        assertNull(received.poll(2, TimeUnit.SECONDS), "a completed message must not come again");
        assertEquals(0, registry.getDevice(device.getDeviceId()).getCloudToDeviceMessageCount(),
                "the completed message left the device's queue");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("protocols")
    void directMethodRoundTrip(IotHubClientProtocol protocol) throws Exception {
        Device device = createDevice("j-meth");
        DeviceClient client = openDevice(device, protocol);
        BlockingQueue<String> calls = new LinkedBlockingQueue<>();
        client.subscribeToMethods((methodName, payload, context) -> {
            calls.add(methodName + " " + payload.getPayloadAsJsonString());
            Map<String, Object> answer = new HashMap<>();
            answer.put("echo", payload.getPayloadAsJsonElement());
            answer.put("method", methodName);
            return new DirectMethodResponse(201, answer);
        }, null, OPERATION_TIMEOUT_MS);

        Map<String, Object> payload = new HashMap<>();
        payload.put("delay", 3);
        DirectMethodsClient methods = new DirectMethodsClient(Hub.SERVICE_CONNECTION_STRING);
        com.microsoft.azure.sdk.iot.service.methods.DirectMethodResponse response = methods.invoke(
                device.getDeviceId(), "reboot",
                DirectMethodRequestOptions.builder().payload(payload).methodResponseTimeoutSeconds(15).build());

        assertEquals(201, response.getStatus());
        JsonObject answer = response.getPayloadAsJsonElement().getAsJsonObject();
        assertEquals("reboot", answer.get("method").getAsString());
        assertEquals(3, answer.getAsJsonObject("echo").get("delay").getAsInt());
        assertEquals("reboot {\"delay\":3}", calls.poll(1, TimeUnit.SECONDS));
        assertNull(calls.poll(500, TimeUnit.MILLISECONDS), "the method ran once");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("protocols")
    void twinReportedDesiredAndGet(IotHubClientProtocol protocol) throws Exception {
        Device device = createDevice("j-twin");
        DeviceClient client = openDevice(device, protocol);
        BlockingQueue<com.microsoft.azure.sdk.iot.device.twin.Twin> desired = new LinkedBlockingQueue<>();
        client.subscribeToDesiredProperties((twin, context) -> desired.add(twin), null, OPERATION_TIMEOUT_MS);

        com.microsoft.azure.sdk.iot.device.twin.TwinCollection reported =
                new com.microsoft.azure.sdk.iot.device.twin.TwinCollection();
        reported.put("firmware", "1.2.3");
        reported.put("battery", 88);
        ReportedPropertiesUpdateResponse update =
                twinCall("updateReportedProperties", t -> client.updateReportedProperties(reported, t));
        assertTrue(update.getVersion() > 0, "a reported patch returns the new version");

        TwinClient twins = new TwinClient(Hub.SERVICE_CONNECTION_STRING);
        Twin serviceTwin = twins.get(device.getDeviceId());
        assertEquals("1.2.3", serviceTwin.getReportedProperties().get("firmware"));
        assertEquals(88.0, ((Number) serviceTwin.getReportedProperties().get("battery")).doubleValue());

        Twin patch = new Twin(device.getDeviceId());
        patch.getDesiredProperties().put("interval", 30);
        patch.getDesiredProperties().put("mode", "eco");
        twins.patch(patch);

        com.microsoft.azure.sdk.iot.device.twin.Twin notification = desired.poll(20, TimeUnit.SECONDS);
        assertNotNull(notification, "no desired-properties notification within 20 s");
        assertEquals("eco", notification.getDesiredProperties().get("mode"));
        assertEquals(30.0, ((Number) notification.getDesiredProperties().get("interval")).doubleValue());
        assertNotNull(notification.getDesiredProperties().getVersion(), "the notification carries $version");
        assertTrue(notification.getDesiredProperties().getVersion() >= 2);

        com.microsoft.azure.sdk.iot.device.twin.Twin got = twinCall("getTwin", client::getTwin);
        assertEquals("eco", got.getDesiredProperties().get("mode"));
        assertEquals("1.2.3", got.getReportedProperties().get("firmware"));
        assertEquals(notification.getDesiredProperties().getVersion(), got.getDesiredProperties().getVersion());
        assertFalse(got.getReportedProperties().containsKey("mode"), "desired and reported stay apart");
    }
}
