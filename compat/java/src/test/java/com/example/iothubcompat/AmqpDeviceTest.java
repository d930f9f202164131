package com.example.iothubcompat;

import com.microsoft.azure.sdk.iot.device.IotHubClientProtocol;
import java.util.stream.Stream;

/** The device scenarios over AMQPS (5671) and AMQP over WebSockets (443). */
class AmqpDeviceTest extends DeviceScenarios {
    static Stream<IotHubClientProtocol> protocols() {
        return Stream.of(IotHubClientProtocol.AMQPS, IotHubClientProtocol.AMQPS_WS);
    }
}
