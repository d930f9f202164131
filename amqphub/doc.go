// Package amqphub serves IoT Hub's AMQP 1.0 endpoints on the amqp
// package's server: the service side of IoT Hub (cloud-to-device sends on
// /messages/devicebound, the feedback and file-notification receivers) and
// the Event Hubs-compatible endpoint that back ends read telemetry from
// ({entity}/ConsumerGroups/{cg}/Partitions/{n} and $management).
//
// Clients authenticate as IoT Hub's AMQP clients do: SASL MSSBCBS or
// ANONYMOUS (or no SASL layer) followed by $cbs put-token, or SASL PLAIN
// with a policy name and a SAS token (or the policy key) as password. Every
// link but $cbs needs a claim whose token covers its address and whose
// policy grants ServiceConnect; otherwise it is refused with
// amqp:unauthorized-access.
//
// Attaches on IoT Hub's built-in messages/events endpoint (as the az CLI's
// monitor-events makes first) are detached with amqp:link:redirect naming
// the Event Hubs-compatible entity, as IoT Hub does. Device-side AMQP
// (/devices/{id}/...) is refused with amqp:not-implemented.
package amqphub
