// Package dps is the emulated Device Provisioning Service, linked to the
// emulator's one hub: individual enrollments and enrollment groups
// (symmetric key and X.509 attestation), device registration, and the
// registration states it records.
//
// Registration is synchronous: when a device registers, the service
// authenticates it against its enrollment, creates or updates the device
// in the hub with the enrollment's credentials and initial twin, and
// records the outcome, all durably, before it answers "assigning" with an
// operation id; the device's first poll of that operation reads the
// outcome. The protocol heads (MQTT in mqttbroker, HTTPS in api) only
// translate the wire.
package dps
