package c2d

import (
	"bytes"
	"maps"
	"strings"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/internal/guid"
)

// Ack modes: which outcomes of a message produce a feedback record.
const (
	AckNone     = "none"     // no feedback (the default)
	AckPositive = "positive" // feedback when the device completes the message
	AckNegative = "negative" // feedback when the message is dead-lettered
	AckFull     = "full"     // both
)

// MaxMessageSize bounds a message's body plus its application properties
// (names and values): IoT Hub's 64 KB cloud-to-device limit.
const MaxMessageSize = 64 * 1024

// maxMessageIDLength is IoT Hub's limit on message ids.
const maxMessageIDLength = 128

// Message is one cloud-to-device message.
type Message struct {
	MessageID       string            `json:"messageId,omitempty"` // generated (a GUID) when empty
	CorrelationID   string            `json:"correlationId,omitempty"`
	UserID          string            `json:"userId,omitempty"`
	ContentType     string            `json:"contentType,omitempty"`
	ContentEncoding string            `json:"contentEncoding,omitempty"`
	ExpiryTime      time.Time         `json:"expiryTimeUtc,omitzero"` // zero: EnqueuedTime + DefaultTTL
	Ack             string            `json:"ack,omitempty"`          // none (default) | positive | negative | full
	Properties      map[string]string `json:"properties,omitempty"`
	Body            []byte            `json:"body"`

	// Set by the queue.
	DeviceID       string    `json:"deviceId"`
	LockToken      string    `json:"lockToken,omitempty"` // set while a device holds the message
	EnqueuedTime   time.Time `json:"enqueuedTimeUtc"`
	DeliveryCount  int       `json:"deliveryCount"`
	SequenceNumber int64     `json:"sequenceNumber"`
}

// clone returns m with its own body and properties, so neither the caller
// nor a transport can change a queued message.
func (m Message) clone() Message {
	m.Body = bytes.Clone(m.Body)
	m.Properties = maps.Clone(m.Properties)
	return m
}

// size is what counts against MaxMessageSize.
func (m Message) size() int {
	n := len(m.Body)
	for k, v := range m.Properties {
		n += len(k) + len(v)
	}
	return n
}

// wantsFeedback reports whether an outcome (positive: completed) produces a
// feedback record under the message's ack mode.
func (m Message) wantsFeedback(positive bool) bool {
	switch m.Ack {
	case AckFull:
		return true
	case AckPositive:
		return positive
	case AckNegative:
		return !positive
	}
	return false
}

// normalize checks the parts of m a sender sets and canonicalises its ack
// mode. Checks that need the clock (expiry) happen at enqueue.
func normalize(m *Message) error {
	ack, err := parseAck(m.Ack)
	if err != nil {
		return err
	}
	m.Ack = ack
	if len(m.MessageID) > maxMessageIDLength {
		return errcode.New(errcode.ArgumentInvalid, "The message id is %d characters long; the limit is %d.", len(m.MessageID), maxMessageIDLength)
	}
	for k := range m.Properties {
		if err := checkPropertyName(k); err != nil {
			return err
		}
	}
	if n := m.size(); n > MaxMessageSize {
		return errcode.New(errcode.MessageTooLarge, "The message body and properties are %d bytes; the limit is %d.", n, MaxMessageSize)
	}
	return nil
}

// parseAck accepts the ack modes in any letter case (SDKs send "full" and
// "Full") and returns the canonical lower-case name.
func parseAck(s string) (string, error) {
	switch v := strings.ToLower(s); v {
	case "":
		return AckNone, nil
	case AckNone, AckPositive, AckNegative, AckFull:
		return v, nil
	}
	return "", errcode.New(errcode.ArgumentInvalid, "ack %q is invalid: use none, positive, negative or full.", s)
}

// checkPropertyName refuses names the device would read as something else:
// the "$." system-property prefix (also percent-encoded) and "iothub-",
// which carries the hub's own annotations such as iothub-ack.
func checkPropertyName(k string) error {
	if k == "" {
		return errcode.New(errcode.ArgumentInvalid, "A property name must not be empty.")
	}
	low := strings.ToLower(k)
	for _, p := range []string{"$.", "%24.", "iothub-"} {
		if strings.HasPrefix(low, p) {
			return errcode.New(errcode.ArgumentInvalid, "The property name %q is reserved: names starting with %q belong to the hub.", k, p)
		}
	}
	return nil
}

// newGUID returns a random GUID, the form the hub uses for message ids
// and lock tokens.
func newGUID() string { return guid.New() }
