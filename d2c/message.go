package d2c

import (
	"encoding/binary"
	"maps"
	"strconv"
	"strings"
	"time"
)

// Message is one device-to-cloud message as the hub received it.
type Message struct {
	SequenceNumber int64     `json:"sequenceNumber"` // 1, 2, 3 ... across the hub, never reused (survives restarts)
	EnqueuedTime   time.Time `json:"enqueuedTime"`   // set by Append (UTC, millisecond precision)
	DeviceID       string    `json:"deviceId"`
	ModuleID       string    `json:"moduleId,omitempty"`
	// SystemProperties are keyed by IoT Hub's names ("message-id",
	// "content-type", ...; see SystemPropertyName) plus the hub's additions
	// ("iothub-connection-device-id", "iothub-connection-module-id",
	// "iothub-connection-auth-method", "iothub-connection-auth-generation-id",
	// "iothub-enqueuedtime", "iothub-message-source").
	SystemProperties map[string]string `json:"systemProperties"`
	Properties       map[string]string `json:"properties"` // application properties
	Body             []byte            `json:"body"`       // base64 in JSON

	// The message's place on the Event Hubs-compatible endpoint, set by
	// Append (see partition.go). They are persisted but left out of the
	// read-back JSON, whose shape predates partitions.
	Partition               int   `json:"-"` // 0 .. partitions-1, by device id
	PartitionSequenceNumber int64 `json:"-"` // 0, 1, 2 ... within the partition, never reused
	Offset                  int64 `json:"-"` // byte position within the partition, increasing
}

// Hub-set system properties that Append fills in.
const (
	PropConnectionDeviceID = "iothub-connection-device-id"
	PropConnectionModuleID = "iothub-connection-module-id"
	PropEnqueuedTime       = "iothub-enqueuedtime"
	PropMessageSource      = "iothub-message-source"
)

// MaxMessageSize is IoT Hub's device-to-cloud limit, counted as the hub
// meters a message: body, system property values, application property
// names and values, of what the device sent (see Size).
const MaxMessageSize = 256 * 1024

// stampedByHub reports whether a system property (system) or an
// application property is one the hub adds to a message itself. Those do
// not count against MaxMessageSize: a device sending exactly 256 KB must not
// be refused for what the hub wrote.
func stampedByHub(system bool, name string) bool {
	if system {
		switch name {
		case PropConnectionDeviceID, PropConnectionModuleID, PropEnqueuedTime, PropMessageSource,
			"iothub-connection-auth-method", "iothub-connection-auth-generation-id":
			return true
		}
		return false
	}
	// The markers of a RETAIN publish and of a Will message.
	return name == "mqtt-retain" || name == "iothub-MessageType"
}

// enqueuedTimeLayout renders iothub-enqueuedtime the way IoT Hub's routed
// messages show it (ISO 8601, UTC, milliseconds).
const enqueuedTimeLayout = "2006-01-02T15:04:05.000Z"

// systemPropertyNames maps the MQTT property-bag keys (without "$.") to the
// names IoT Hub gives the system properties on its service side.
var systemPropertyNames = map[string]string{
	"mid":        "message-id",
	"cid":        "correlation-id",
	"uid":        "user-id",
	"to":         "to",
	"exp":        "absolute-expiry-time",
	"ct":         "content-type",
	"ce":         "content-encoding",
	"ctime":      "iothub-creation-time-utc",
	"on":         "iothub-outputname",
	"ifid":       "iothub-interface-id",
	"sub":        "dt-subject",
	"dataschema": "dt-dataschema",
	"schema":     "iothub-message-schema",
	"diagid":     "iothub-diag-id",
	"diagctx":    "diag-correlation-context",
}

// SystemPropertyName maps a bag key ("mid") to IoT Hub's name ("message-id").
// A key IoT Hub does not define keeps its "$." prefix ("$.foo"), so it can
// neither be lost nor pass for a property the hub sets itself.
func SystemPropertyName(bagKey string) string {
	if n, ok := systemPropertyNames[bagKey]; ok {
		return n
	}
	return "$." + bagKey
}

// SystemProperties renames a device's system-property bag (keys without
// "$.") to IoT Hub's names. The result is a new map; nil gives an empty map.
func SystemProperties(bag map[string]string) map[string]string {
	out := make(map[string]string, len(bag))
	for k, v := range bag {
		out[SystemPropertyName(k)] = v
	}
	return out
}

// Size is the message's size as IoT Hub meters it against MaxMessageSize:
// the body, the values of the system properties and the names and values of
// the application properties, leaving out those the hub adds itself
// (connection and auth properties, enqueued time, the retain and Will
// markers).
func (m Message) Size() int { return MeteredSize(m.Body, m.SystemProperties, m.Properties) }

// MeteredSize is Size for a message not yet built, so a protocol head can
// refuse an oversized one as the hub would before handing it over.
func MeteredSize(body []byte, system, props map[string]string) int {
	n := len(body)
	for k, v := range system {
		if !stampedByHub(true, k) {
			n += len(v)
		}
	}
	for k, v := range props {
		if !stampedByHub(false, k) {
			n += len(k) + len(v)
		}
	}
	return n
}

// clone returns a deep copy, so no caller can reach into the log's own maps.
func (m Message) clone() Message {
	m.SystemProperties = maps.Clone(m.SystemProperties)
	m.Properties = maps.Clone(m.Properties)
	if m.Body != nil {
		m.Body = append([]byte{}, m.Body...)
	}
	return m
}

// Filter selects messages. Zero fields match all.
type Filter struct {
	DeviceID     string
	ModuleID     string
	FromSequence int64     // inclusive
	FromTime     time.Time // inclusive, compared with EnqueuedTime
}

// Matches reports whether m passes every set field of f.
func (f Filter) Matches(m Message) bool {
	return (f.DeviceID == "" || f.DeviceID == m.DeviceID) &&
		(f.ModuleID == "" || f.ModuleID == m.ModuleID) &&
		m.SequenceNumber >= f.FromSequence &&
		!m.EnqueuedTime.Before(f.FromTime)
}

// seqKey is a message's store key: the big-endian sequence number, so the
// store's key order is sequence order.
func seqKey(seq int64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(seq))
	return string(b[:])
}

// parseSeqKey is the inverse of seqKey; ok is false for any other key.
func parseSeqKey(k string) (int64, bool) {
	if len(k) != 8 {
		return 0, false
	}
	v := binary.BigEndian.Uint64([]byte(k))
	if v == 0 || v > 1<<63-1 {
		return 0, false
	}
	return int64(v), true
}

// keyString renders a store key for a log line.
func keyString(k string) string {
	if seq, ok := parseSeqKey(k); ok {
		return "#" + strconv.FormatInt(seq, 10)
	}
	return strconv.Quote(strings.ToValidUTF8(k, "?"))
}
