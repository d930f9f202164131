// Package mqttbroker serves IoT Hub's MQTT device protocol on an embedded
// mochi-mqtt broker.
//
// IoT Hub is not a general MQTT broker: every device subscribes to the same
// literal topics ($iothub/twin/res/#, ...), so the broker never routes a
// message by topic. Device publishes are intercepted in mochi hooks and
// answered by this package, and every response or notification is written to
// the one connection that owns the identity. Topic routing is disabled twice
// over: every publish is marked ignored before mochi could fan it out, and the
// ACL refuses every delivery mochi might still attempt.
//
// The domain (identity registry, twins, SAS verification) is reached only
// through the Hub interface.
package mqttbroker
