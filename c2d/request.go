package c2d

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// sendRequest is the JSON body of POST /devices/{id}/messages/devicebound.
type sendRequest struct {
	Body            *string           `json:"body"`       // the body as text
	BodyBase64      *string           `json:"bodyBase64"` // or as base64, for binary bodies
	MessageID       string            `json:"messageId"`
	CorrelationID   string            `json:"correlationId"`
	UserID          string            `json:"userId"`
	ContentType     string            `json:"contentType"`
	ContentEncoding string            `json:"contentEncoding"`
	ExpiryTime      string            `json:"expiryTimeUtc"` // RFC 3339
	Ack             string            `json:"ack"`
	Properties      map[string]string `json:"properties"`
}

// ParseSendRequest decodes the body of a send (POST
// /devices/{id}/messages/devicebound): a JSON object {"body":"text"} or
// {"bodyBase64":"..."} plus optional messageId, correlationId, userId,
// contentType, contentEncoding, expiryTimeUtc (RFC 3339), ack and
// properties{}. It checks the form only, with ArgumentNull or
// ArgumentInvalid; Enqueue checks the content (ack, sizes, names, expiry).
func ParseSendRequest(body []byte) (Message, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return Message{}, errcode.New(errcode.ArgumentNull, "The request body is empty: send a JSON object such as {\"body\":\"text\"}.")
	}
	if trimmed[0] != '{' {
		return Message{}, errcode.New(errcode.ArgumentInvalid, "The request body must be a JSON object such as {\"body\":\"text\"}.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var r sendRequest
	if err := dec.Decode(&r); err != nil {
		return Message{}, errcode.New(errcode.ArgumentInvalid, "The request body is not a valid send request: %s.", describeJSONError(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Message{}, errcode.New(errcode.ArgumentInvalid, "The request body holds more than one JSON value.")
	}
	m := Message{
		MessageID:       r.MessageID,
		CorrelationID:   r.CorrelationID,
		UserID:          r.UserID,
		ContentType:     r.ContentType,
		ContentEncoding: r.ContentEncoding,
		Ack:             r.Ack,
		Properties:      r.Properties,
	}
	switch {
	case r.Body != nil && r.BodyBase64 != nil:
		return Message{}, errcode.New(errcode.ArgumentInvalid, "Send either body or bodyBase64, not both.")
	case r.Body != nil:
		m.Body = []byte(*r.Body)
	case r.BodyBase64 != nil:
		b, err := base64.StdEncoding.DecodeString(*r.BodyBase64)
		if err != nil {
			return Message{}, errcode.New(errcode.ArgumentInvalid, "bodyBase64 is not valid base64: %v.", err)
		}
		m.Body = b
	}
	if r.ExpiryTime != "" {
		t, err := time.Parse(time.RFC3339Nano, r.ExpiryTime)
		if err != nil {
			return Message{}, errcode.New(errcode.ArgumentInvalid, "expiryTimeUtc %q is not an RFC 3339 time such as 2030-01-02T15:04:05Z.", r.ExpiryTime)
		}
		m.ExpiryTime = t.UTC()
	}
	return m, nil
}

// describeJSONError turns a decoding error into a sentence without Go type names.
func describeJSONError(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field == "properties":
		return "properties must be a JSON object of string values"
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return typeErr.Field + " must be a string"
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("invalid JSON at byte %d", syntaxErr.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the JSON ends early"
	}
	return strings.TrimPrefix(err.Error(), "json: ") // e.g. unknown field "x"
}

// MessageView is a message as the REST endpoints show it: the body as text
// when it is UTF-8, else as base64, mirroring what a send accepts.
type MessageView struct {
	MessageID       string            `json:"messageId"`
	CorrelationID   string            `json:"correlationId,omitempty"`
	UserID          string            `json:"userId,omitempty"`
	ContentType     string            `json:"contentType,omitempty"`
	ContentEncoding string            `json:"contentEncoding,omitempty"`
	Ack             string            `json:"ack"`
	Properties      map[string]string `json:"properties,omitempty"`
	Body            *string           `json:"body,omitempty"`
	BodyBase64      *string           `json:"bodyBase64,omitempty"`
	DeviceID        string            `json:"deviceId"`
	SequenceNumber  int64             `json:"sequenceNumber"`
	EnqueuedTime    time.Time         `json:"enqueuedTimeUtc"`
	ExpiryTime      time.Time         `json:"expiryTimeUtc"`
	DeliveryCount   int               `json:"deliveryCount"`
	State           string            `json:"state"` // Enqueued or Invisible (a device holds it)
}

// NewMessageView returns m as the REST endpoints show it.
func NewMessageView(m Message) MessageView {
	v := MessageView{
		MessageID:       m.MessageID,
		CorrelationID:   m.CorrelationID,
		UserID:          m.UserID,
		ContentType:     m.ContentType,
		ContentEncoding: m.ContentEncoding,
		Ack:             m.Ack,
		Properties:      m.Properties,
		DeviceID:        m.DeviceID,
		SequenceNumber:  m.SequenceNumber,
		EnqueuedTime:    m.EnqueuedTime,
		ExpiryTime:      m.ExpiryTime,
		DeliveryCount:   m.DeliveryCount,
		State:           "Enqueued",
	}
	if m.LockToken != "" {
		v.State = "Invisible"
	}
	if utf8.Valid(m.Body) {
		s := string(m.Body)
		v.Body = &s
	} else {
		s := base64.StdEncoding.EncodeToString(m.Body)
		v.BodyBase64 = &s
	}
	return v
}
