// Package eventhubs is the protocol-neutral side of IoT Hub's Event
// Hubs-compatible endpoint: what an AMQP head needs to serve it without
// holding any logic of its own. It parses receiver addresses and start
// filters, answers the $management READ requests, keeps the per-partition
// epoch (owner level) rules, and maps a d2c.Message to the annotations and
// properties an Event Hubs receiver expects. It has no AMQP dependency:
// values are plain Go types that map one to one to AMQP's (int64 to long,
// int32 to int, time.Time to timestamp, []string to an array of strings).
//
// What the clients send and read was taken from their sources:
// azeventhubs v2 (partition_client.go getStartExpression, mgmt.go),
// azure-eventhub 5.15 (_utils.py event_position_selector, _client_base.py)
// and @azure/event-hubs 6 (eventPosition.ts getEventPositionFilter,
// managementClient.ts); the az CLI's monitor-events filter comes from
// azure-iot's monitor/telemetry.py.
package eventhubs
