// Package faults makes the emulated hub misbehave on purpose, as the real one
// sometimes does, so the reconnect and retry logic of device and back-end code
// can be tested offline.
//
// An Injector holds the faults in effect, each bounded in time: connections
// refused, twin responses delayed, classes of operations throttled, a
// device's own operations failing. The MQTT broker consults it on CONNECT,
// telemetry, twin requests and method responses; the REST API asks it to
// Admit each request of a throttled Operation class, and its admin
// endpoints let tests add (Submit), list and clear faults over HTTP.
//
// The package also knows IoT Hub's own fault-injection telemetry: a device
// message carrying the application property AzIoTHub_FaultOperationType
// (see ParseMessageFault), which the broker turns into the effect the real
// hub has on an MQTT client.
//
// A Limiter applies an IoT Hub tier's operation throttles (token buckets at
// the documented per-unit rates); it is off unless given as Options.Limiter.
package faults
