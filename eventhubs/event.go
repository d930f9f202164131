package eventhubs

import (
	"strconv"
	"strings"
	"time"

	"github.com/iothub-emulator/iothub-emulator/d2c"
)

// Message annotation names an Event Hubs receiver reads.
const (
	AnnotationSequenceNumber = "x-opt-sequence-number" // long
	AnnotationOffset         = "x-opt-offset"          // string
	AnnotationEnqueuedTime   = "x-opt-enqueued-time"   // timestamp
)

// Event is a d2c.Message as the Event Hubs-compatible endpoint delivers it,
// in plain values the AMQP head copies to the wire.
type Event struct {
	// Annotations is the message-annotations section, each value of its
	// wire type: x-opt-sequence-number (int64), x-opt-offset (string),
	// x-opt-enqueued-time and iothub-enqueuedtime (time.Time), and the
	// hub's iothub-* and dt-* properties (string).
	Annotations map[string]any

	// The properties section. Zero values are absent.
	MessageID          string
	CorrelationID      string
	UserID             []byte
	To                 string
	ContentType        string
	ContentEncoding    string
	AbsoluteExpiryTime time.Time

	// Properties is the application-properties section: what the device set.
	Properties map[string]string
	// Body is one data section.
	Body []byte

	// The same facts as fields, for the head's logs and tests.
	Partition        int
	SequenceNumber   int64
	Offset           string
	EnqueuedTime     time.Time
	DeviceID         string
	ModuleID         string
	AuthMethod       string
	AuthGenerationID string
}

// NewEvent maps m to what an Event Hubs receiver gets. System properties
// the device set under names IoT Hub does not define (kept as "$.name" by
// d2c) are not delivered, as IoT Hub drops them.
//
// The event takes m's body and property map over rather than copying them
// (the copies Cursor.Next returns are the caller's own, and a second copy
// per event was half the cost of serving a receiver): neither may change
// while the event is in use.
func NewEvent(m d2c.Message) Event {
	sys := m.SystemProperties
	offset := strconv.FormatInt(m.Offset, 10)
	ann := make(map[string]any, len(sys)+3) // sized once: the map would grow twice per event
	ann[AnnotationSequenceNumber] = m.PartitionSequenceNumber
	ann[AnnotationOffset] = offset
	ann[AnnotationEnqueuedTime] = m.EnqueuedTime
	ev := Event{
		Annotations:      ann,
		MessageID:        sys["message-id"],
		CorrelationID:    sys["correlation-id"],
		To:               sys["to"],
		ContentType:      sys["content-type"],
		ContentEncoding:  sys["content-encoding"],
		Properties:       m.Properties,
		Body:             m.Body,
		Partition:        m.Partition,
		SequenceNumber:   m.PartitionSequenceNumber,
		Offset:           offset,
		EnqueuedTime:     m.EnqueuedTime,
		DeviceID:         m.DeviceID,
		ModuleID:         m.ModuleID,
		AuthMethod:       sys["iothub-connection-auth-method"],
		AuthGenerationID: sys["iothub-connection-auth-generation-id"],
	}
	if ev.Properties == nil {
		ev.Properties = map[string]string{}
	}
	if u := sys["user-id"]; u != "" {
		ev.UserID = []byte(u) // AMQP's user-id is binary
	}
	if exp := sys["absolute-expiry-time"]; exp != "" {
		// Devices send it as an ISO 8601 time; one that does not parse is
		// left out rather than guessed at.
		if t, err := time.Parse(time.RFC3339Nano, exp); err == nil {
			ev.AbsoluteExpiryTime = t.UTC()
		}
	}
	for k, v := range sys {
		if strings.HasPrefix(k, "$.") || isPropertySection(k) {
			continue
		}
		ev.Annotations[k] = v
	}
	// IoT Hub sends its enqueued time as a timestamp, like x-opt-enqueued-time.
	ev.Annotations[d2c.PropEnqueuedTime] = m.EnqueuedTime
	return ev
}

// isPropertySection reports whether a system property goes in the AMQP
// properties section rather than among the annotations: IoT Hub's message
// format makes these seven AMQP properties.
func isPropertySection(name string) bool {
	switch name {
	case "message-id", "correlation-id", "user-id", "to", "content-type", "content-encoding", "absolute-expiry-time":
		return true
	}
	return false
}
