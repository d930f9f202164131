package com.example.iothubcompat;

import com.microsoft.azure.sdk.iot.device.IotHubClientProtocol;
import java.util.stream.Stream;

/** The device scenarios over MQTT (8883) and MQTT over WebSockets (443). */
class MqttDeviceTest extends DeviceScenarios {
    static Stream<IotHubClientProtocol> protocols() {
        return Stream.of(IotHubClientProtocol.MQTT, IotHubClientProtocol.MQTT_WS);
    }
}
