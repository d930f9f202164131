// Package d2c is the hub's device-to-cloud message log.
//
// IoT Hub hands telemetry to an Event Hubs endpoint; the emulator keeps it
// instead in a bounded log, persisted in the store, and lets users read it
// back: page by page or by long poll (Read, Wait), as a live feed
// (Subscribe), and as server-sent events (Stream, EventWriter). Package api
// serves these over HTTP, with ParseQuery reading the requests.
//
// Every message gets a sequence number, 1, 2, 3 ... across the hub, that is
// never reused, also across restarts. The log keeps at most MaxMessages
// messages, none older than MaxAge; older ones are dropped in the same
// transaction that adds new ones, so memory and the file stay bounded.
//
// The log is also partitioned the way IoT Hub's Event Hubs-compatible
// endpoint is (partition.go): each message lands on its device's partition
// with a per-partition sequence number and offset, and a Cursor reads one
// partition from an EventPosition, as an Event Hubs receiver does.
// Retention still applies to the log as a whole.
package d2c
