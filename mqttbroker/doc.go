// Package mqttbroker serves IoT Hub's MQTT device protocol on an embedded
// mochi-mqtt broker, over TCP (Serve), any accepted connection (ServeConn)
// and WebSockets (WebSocketHandler).
//
// IoT Hub is not a general MQTT broker: every device subscribes to the same
// literal topics ($iothub/twin/res/#, ...), so the broker never routes a
// message by topic. Device publishes are intercepted in mochi hooks and
// answered by this package, and every response or notification is written to
// the one connection that owns the identity. Topic routing is disabled twice
// over: every publish is marked ignored before mochi could fan it out, and the
// ACL refuses every delivery mochi might still attempt.
//
// The broker also carries the two exchanges the service side starts: direct
// methods (InvokeMethod matches each device answer to its request by a
// broker-chosen $rid, per connection) and cloud-to-device messages
// (DeliverC2D publishes at QoS 1 and reports the device's PUBACK; the hub's
// queue owns storage and redelivery).
//
// Sessions: the SDKs connect with clean session 0, and some (Node) never
// subscribe again after a reconnect, so a disconnected identity's
// subscriptions are kept for Options.SessionExpiry (an hour by default).
// Forget drops them at once when the identity is deleted; nothing else is
// kept per identity once its connections have ended (connections.go).
//
// X.509 clients (a TLS client certificate, no password) have their
// certificate chain passed to the hub in ConnectRequest.Certificates, from
// the TLS handshake or the HTTPS request a WebSocket upgraded (x509.go);
// the hub decides. Clients needing what the emulator lacks (the Device
// Provisioning Service, AMQP on an MQTT port or over WebSockets) are
// refused with one warning that names the feature (unsupported.go).
//
// Injected faults and tier throttles (package faults) are applied on
// CONNECT, telemetry, twin requests and method responses, and a telemetry
// message carrying IoT Hub's AzIoTHub_FaultOperationType property is acted
// on once acknowledged (faults.go).
//
// The domain (identity registry, twins, SAS verification, C2D queues) is
// reached only through the Hub interface and its optional extensions.
package mqttbroker
