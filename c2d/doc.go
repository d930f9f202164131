// Package c2d keeps IoT Hub's per-device cloud-to-device queues.
//
// A message is enqueued by the back end, locked while a device holds it,
// and then completed, abandoned (visible again) or dead-lettered (rejected,
// expired, or delivered too often). Feedback records are kept for the
// messages whose ack mode asks for them. Every change is durable before the
// call that made it returns; lock state is memory-only, so after a restart
// every kept message is visible again.
//
// The package knows nothing of MQTT or HTTP: a Transport hands messages to
// devices, and package api serves the REST endpoints for sending (with
// ParseSendRequest), inspecting, purging and reading feedback.
package c2d
