// Package amqphub serves IoT Hub's AMQP 1.0 endpoints on the amqp
// package's server: the service side of IoT Hub (cloud-to-device sends on
// /messages/devicebound, the feedback and file-notification receivers), its
// device side (/devices/{id}[/modules/{mid}]/...), and the Event
// Hubs-compatible endpoint that back ends read telemetry from
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
// the Event Hubs-compatible entity, as IoT Hub does.
//
// Device links are authorised as the MQTT broker authorises CONNECT: a
// device or module SAS token (or one of a policy granting DeviceConnect)
// put on $cbs or given as SASL PLAIN password ("{deviceId}@sas.{hub}"),
// checked against the identity's keys and status at every attach, or the
// TLS client certificate when no token was given. A link ends when its
// token expires unrenewed, and the hub's Disconnect (new keys, disabled,
// deleted) ends the identity's links, closing connections that carry no
// other identity. The Server is a devicelink.Head, so the hub reaches a
// device over AMQP as over MQTT:
//
//   - messages/events (device sender): telemetry into the hub's telemetry
//     path, accepted once durable; batches (message format 0x80013700) are
//     stored message by message or refused whole.
//   - messages/devicebound (device receiver): the device's cloud-to-device
//     queue, shared with MQTT and HTTPS, delivered unsettled within credit;
//     accepted completes, released or modified abandons, rejected
//     dead-letters. Annotation x-opt-lock-token carries the lock token.
//   - methods/devicebound (a link pair): requests with application
//     property IoThub-methodname and a uuid correlation-id; answers with
//     that correlation-id and IoThub-status.
//   - twin (a link pair): requests with annotations operation (GET, PATCH
//     /properties/reported, PUT or DELETE
//     /notifications/twin/properties/desired) and a correlation-id; replies
//     with annotations status and version; desired-property notifications
//     without correlation-id once subscribed.
//
// An identity may hold several AMQP connections at once (IoT Hub keeps
// them); the newest link of a kind gets the hub's calls.
package amqphub
