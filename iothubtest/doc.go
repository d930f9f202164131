// Package iothubtest runs an emulated Azure IoT Hub inside a Go test, the
// way net/http/httptest runs an HTTP server, so device and back-end code can
// be tested against the real protocols with no cloud hub.
//
// Start runs the whole emulator (MQTT over TLS, the REST API, twins,
// telemetry, cloud-to-device messages) on free loopback ports, in memory,
// and stops it when the test ends:
//
//	func TestThermostat(t *testing.T) {
//		hub := iothubtest.Start(t)
//		dev := hub.CreateDevice(t, "thermostat")
//
//		runDevice(dev.ConnectionString, hub.MQTTAddr(), hub.ClientTLSConfig()) // the code under test
//
//		hub.WaitTwin(t, "thermostat", 5*time.Second, func(tw map[string]any) bool {
//			return iothubtest.Lookup(tw, "properties.reported.firmware") != nil
//		})
//		msg := hub.NextTelemetry(t, "thermostat", 5*time.Second)
//		...
//	}
//
// Devices authenticate with their connection string as against IoT Hub; the
// test only has to point the MQTT connection at MQTTAddr (the SDKs' port
// 8883 is not used) and trust the hub's CA (ClientTLSConfig, CAPEM).
//
// Every helper that takes a testing.TB fails the test with a message saying
// what went wrong, and every wait is bounded (DefaultTimeout unless a
// timeout is given), so a test never hangs on the hub. As with t.Fatal, call
// them from the goroutine running the test. For anything they do not cover,
// Emulator gives the running emulator and its domain API.
//
// Each Start is independent (its own CA, keys, store and ports), so
// parallel tests can each start their own hub. Set IOTHUB_EMULATOR_TEST_LOG=1
// to see the emulator's logs.
package iothubtest
