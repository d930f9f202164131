package com.example.iothubcompat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.microsoft.azure.sdk.iot.service.exceptions.IotHubConflictException;
import com.microsoft.azure.sdk.iot.service.exceptions.IotHubException;
import com.microsoft.azure.sdk.iot.service.exceptions.IotHubNotFoundException;
import com.microsoft.azure.sdk.iot.service.exceptions.IotHubPreconditionFailedException;
import com.microsoft.azure.sdk.iot.service.messaging.IotHubServiceClientProtocol;
import com.microsoft.azure.sdk.iot.service.messaging.Message;
import com.microsoft.azure.sdk.iot.service.messaging.MessagingClient;
import com.microsoft.azure.sdk.iot.service.methods.DirectMethodRequestOptions;
import com.microsoft.azure.sdk.iot.service.methods.DirectMethodsClient;
import com.microsoft.azure.sdk.iot.service.query.QueryClient;
import com.microsoft.azure.sdk.iot.service.query.QueryPageOptions;
import com.microsoft.azure.sdk.iot.service.query.TwinQueryResponse;
import com.microsoft.azure.sdk.iot.service.registry.Device;
import com.microsoft.azure.sdk.iot.service.registry.DeviceStatus;
import com.microsoft.azure.sdk.iot.service.registry.Module;
import com.microsoft.azure.sdk.iot.service.registry.RegistryClient;
import com.microsoft.azure.sdk.iot.service.twin.Twin;
import com.microsoft.azure.sdk.iot.service.twin.TwinClient;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** The Java service client's registry, twin, query, direct-method and messaging clients. */
class ServiceClientsTest {
    private static final int TIMEOUT_MS = 20_000;

    private final RegistryClient registry = Hub.registry();
    private final List<String> deviceIds = new ArrayList<>();

    @BeforeAll
    static void startEmulator() {
        Emulator.get();
    }

    @AfterEach
    void cleanUp() {
        for (String id : deviceIds) {
            try {
                registry.removeDevice(id);
            } catch (Exception ignored) {
                // the test removed it
            }
        }
    }

    private Device createDevice(String prefix) throws Exception {
        Device device = registry.addDevice(new Device(Hub.uniqueId(prefix)));
        deviceIds.add(device.getDeviceId());
        return device;
    }

    @Test
    void registryDeviceLifecycle() throws Exception {
        String id = Hub.uniqueId("j-reg");
        Device created = registry.addDevice(new Device(id));
        deviceIds.add(id);
        assertEquals(id, created.getDeviceId());
        assertNotNull(created.getPrimaryKey(), "the hub makes the keys");
        assertNotNull(created.getSecondaryKey());
        assertEquals(DeviceStatus.Enabled, created.getStatus());
        assertNotNull(created.getETag());

        assertThrows(IotHubConflictException.class, () -> registry.addDevice(new Device(id)), "a duplicate id");

        Device got = registry.getDevice(id);
        assertEquals(created.getPrimaryKey(), got.getPrimaryKey());
        assertEquals(created.getETag(), got.getETag());

        got.setStatus(DeviceStatus.Disabled);
        Device updated = registry.updateDevice(got);
        assertEquals(DeviceStatus.Disabled, updated.getStatus());
        assertNotEquals(created.getETag(), updated.getETag(), "an update makes a new etag");
        assertEquals(DeviceStatus.Disabled, registry.getDevice(id).getStatus());

        registry.removeDevice(id);
        assertThrows(IotHubNotFoundException.class, () -> registry.getDevice(id));
    }

    @Test
    void registryModuleLifecycle() throws Exception {
        Device device = createDevice("j-regmod");
        String moduleId = Hub.uniqueId("mod");
        Module created = registry.addModule(new Module(device.getDeviceId(), moduleId));
        assertEquals(moduleId, created.getId());
        assertEquals(device.getDeviceId(), created.getDeviceId());
        assertNotNull(created.getPrimaryKey());
        assertNotEquals(device.getPrimaryKey(), created.getPrimaryKey(), "a module has keys of its own");

        assertThrows(IotHubConflictException.class, () -> registry.addModule(new Module(device.getDeviceId(), moduleId)));

        Module got = registry.getModule(device.getDeviceId(), moduleId);
        assertEquals(created.getPrimaryKey(), got.getPrimaryKey());
        List<Module> all = registry.getModulesOnDevice(device.getDeviceId());
        assertEquals(1, all.size());
        assertEquals(moduleId, all.get(0).getId());

        Module updated = registry.updateModule(got);
        assertEquals(moduleId, updated.getId());
        assertNotNull(updated.getETag());

        registry.removeModule(device.getDeviceId(), moduleId);
        assertThrows(IotHubNotFoundException.class, () -> registry.getModule(device.getDeviceId(), moduleId));
        assertTrue(registry.getModulesOnDevice(device.getDeviceId()).isEmpty());
    }

    @Test
    void twinGetPatchReplace() throws Exception {
        Device device = createDevice("j-stwin");
        TwinClient twins = new TwinClient(Hub.SERVICE_CONNECTION_STRING);
        Twin twin = twins.get(device.getDeviceId());
        assertEquals(device.getDeviceId(), twin.getDeviceId());
        assertNotNull(twin.getETag());
        assertTrue(twin.getDesiredProperties().isEmpty());

        Twin patch = new Twin(device.getDeviceId());
        patch.getTags().put("site", "lab");
        patch.getDesiredProperties().put("interval", 10);
        Twin patched = twins.patch(patch);
        assertEquals("lab", patched.getTags().get("site"));
        assertEquals(10.0, ((Number) patched.getDesiredProperties().get("interval")).doubleValue());
        assertNotEquals(twin.getETag(), patched.getETag());

        // A patch conditioned on a stale etag is refused and changes nothing.
        Twin stale = new Twin(device.getDeviceId());
        stale.getTags().put("site", "elsewhere");
        assertThrows(IotHubPreconditionFailedException.class, () -> twins.patch(stale, twin.getETag()));
        assertEquals("lab", twins.get(device.getDeviceId()).getTags().get("site"));

        // A replace drops what it does not name.
        Twin replacement = new Twin(device.getDeviceId());
        replacement.getTags().put("owner", "ops");
        replacement.getDesiredProperties().put("mode", "eco");
        Twin replaced = twins.replace(replacement);
        assertEquals("ops", replaced.getTags().get("owner"));
        assertFalse(replaced.getTags().containsKey("site"), "replace removes tags it does not name");
        assertEquals("eco", replaced.getDesiredProperties().get("mode"));
        assertFalse(replaced.getDesiredProperties().containsKey("interval"));

        Twin after = twins.get(device.getDeviceId());
        assertEquals("ops", after.getTags().get("owner"));
        assertNull(after.getTags().get("site"));
    }

    @Test
    void queryTwinsPagesThroughMatchingDevices() throws Exception {
        String tag = Hub.uniqueId("q");
        TwinClient twins = new TwinClient(Hub.SERVICE_CONNECTION_STRING);
        Set<String> want = new HashSet<>();
        for (int i = 0; i < 3; i++) {
            Device device = createDevice("j-query");
            Twin patch = new Twin(device.getDeviceId());
            patch.getTags().put("batch", tag);
            patch.getTags().put("rank", i);
            twins.patch(patch);
            want.add(device.getDeviceId());
        }
        Device other = createDevice("j-query-other");
        assertFalse(want.contains(other.getDeviceId()));

        QueryClient query = new QueryClient(Hub.SERVICE_CONNECTION_STRING);
        TwinQueryResponse response = query.queryTwins(
                "SELECT * FROM devices WHERE tags.batch = '" + tag + "'",
                QueryPageOptions.builder().pageSize(2).build());
        Set<String> got = new HashSet<>();
        int seen = 0;
        while (response.hasNext()) {
            Twin twin = response.next();
            assertEquals(tag, twin.getTags().get("batch"));
            got.add(twin.getDeviceId());
            seen++;
            assertTrue(seen <= 10, "the query does not end");
        }
        assertEquals(want, got);
        assertEquals(3, seen, "each device once");

        TwinQueryResponse ranked = query.queryTwins(
                "SELECT * FROM devices WHERE tags.batch = '" + tag + "' AND tags.rank >= 1");
        Set<String> high = new HashSet<>();
        while (ranked.hasNext()) {
            high.add(ranked.next().getDeviceId());
        }
        assertEquals(2, high.size());
    }

    @Test
    void directMethodOnOfflineDeviceIsNotFound() throws Exception {
        Device device = createDevice("j-offline");
        DirectMethodsClient methods = new DirectMethodsClient(Hub.SERVICE_CONNECTION_STRING);
        DirectMethodRequestOptions options = DirectMethodRequestOptions.builder()
                .methodResponseTimeoutSeconds(5).methodConnectTimeoutSeconds(0).build();
        IotHubNotFoundException offline = assertThrows(IotHubNotFoundException.class,
                () -> methods.invoke(device.getDeviceId(), "reboot", options));
        assertTrue(String.valueOf(offline.getMessage()).contains("DeviceNotOnline")
                        || offline.getErrorCodeDescription().toString().contains("DeviceNotOnline"),
                "want DeviceNotOnline, got: " + offline.getMessage());
        assertThrows(IotHubNotFoundException.class,
                () -> methods.invoke(Hub.uniqueId("j-nosuch"), "reboot", options), "an unknown device");
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = IotHubServiceClientProtocol.class, names = {"AMQPS", "AMQPS_WS"})
    void messagingClientQueuesForAnOfflineDevice(IotHubServiceClientProtocol protocol) throws Exception {
        Device device = createDevice("j-msg");
        MessagingClient messaging = Hub.messagingClient(protocol);
        messaging.open(TIMEOUT_MS);
        try {
            Message message = new Message("queued");
            message.setMessageId(Hub.uniqueId("m"));
            messaging.send(device.getDeviceId(), message, TIMEOUT_MS);
            messaging.send(device.getDeviceId(), new Message("second"), TIMEOUT_MS);
            assertEquals(2, registry.getDevice(device.getDeviceId()).getCloudToDeviceMessageCount(),
                    "both messages wait in the device's queue");

            assertThrows(IotHubException.class,
                    () -> messaging.send(Hub.uniqueId("j-nosuch"), new Message("lost"), TIMEOUT_MS),
                    "sending to an unknown device fails");
            messaging.send(device.getDeviceId(), new Message("third"), TIMEOUT_MS);
            assertEquals(3, registry.getDevice(device.getDeviceId()).getCloudToDeviceMessageCount(),
                    "the connection is still usable after a refused send");
        } finally {
            messaging.close();
        }
    }
}
