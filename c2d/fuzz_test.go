package c2d

import (
	"bytes"
	"encoding/json"
	"maps"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// FuzzParseSendRequest: any input is either refused with a wire error or
// parsed into a message that survives a round trip through the send form.
func FuzzParseSendRequest(f *testing.F) {
	for _, seed := range []string{
		`{"body":"hello"}`,
		`{"bodyBase64":"AP8A","ack":"full"}`,
		`{"body":"","messageId":"m","correlationId":"c","userId":"u","contentType":"application/json","contentEncoding":"utf-8"}`,
		`{"expiryTimeUtc":"2030-01-02T15:04:05.123456789+02:00","properties":{"a":"b","":"x"}}`,
		`{"properties":null,"body":null}`,
		`{"body":"x","bodyBase64":"eA=="}`,
		`{"properties":{"n":1}}`,
		`{"body":"\u00ff\ud800"}`,
		`{} {}`,
		`[]`,
		`null`,
		``,
		`{"bodi":1}`,
		`{"expiryTimeUtc":"soon"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := ParseSendRequest(in)
		if err != nil {
			if !errcode.Is(err, errcode.ArgumentInvalid) && !errcode.Is(err, errcode.ArgumentNull) {
				t.Fatalf("error %v is not ArgumentInvalid or ArgumentNull", err)
			}
			return
		}
		again, err := ParseSendRequest(encodeSendRequest(t, m))
		if err != nil {
			t.Fatalf("re-parsing %+v: %v", m, err)
		}
		if !bytes.Equal(m.Body, again.Body) || m.MessageID != again.MessageID || m.CorrelationID != again.CorrelationID ||
			m.UserID != again.UserID || m.ContentType != again.ContentType || m.ContentEncoding != again.ContentEncoding ||
			m.Ack != again.Ack || !m.ExpiryTime.Equal(again.ExpiryTime) || !maps.Equal(m.Properties, again.Properties) {
			t.Fatalf("round trip changed the message:\n%+v\n%+v", m, again)
		}
	})
}

// encodeSendRequest renders m in the send form, the body always as base64
// so any bytes survive.
func encodeSendRequest(t *testing.T, m Message) []byte {
	t.Helper()
	r := map[string]any{
		"bodyBase64":      m.Body,
		"messageId":       m.MessageID,
		"correlationId":   m.CorrelationID,
		"userId":          m.UserID,
		"contentType":     m.ContentType,
		"contentEncoding": m.ContentEncoding,
		"ack":             m.Ack,
		"properties":      m.Properties,
	}
	if m.Body == nil {
		r["bodyBase64"] = ""
	}
	if !m.ExpiryTime.IsZero() {
		r["expiryTimeUtc"] = m.ExpiryTime.Format(time.RFC3339Nano)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseSendRequestBodies(t *testing.T) {
	tests := []struct {
		in   string
		want []byte
	}{
		{`{"body":"héllo"}`, []byte("héllo")},
		{`{"bodyBase64":"AP8A"}`, []byte{0, 0xff, 0}},
		{`{"bodyBase64":""}`, []byte{}},
		{`{}`, nil},
	}
	for _, tt := range tests {
		m, err := ParseSendRequest([]byte(tt.in))
		if err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		if !bytes.Equal(m.Body, tt.want) {
			t.Errorf("%s: body %q, want %q", tt.in, m.Body, tt.want)
		}
	}
}

// FuzzDecodeRecords: a stored record either decodes to something that
// belongs under its key, unlocked, or is refused; nothing panics.
func FuzzDecodeRecords(f *testing.F) {
	good, err := messageOp(Message{DeviceID: "d/1", SequenceNumber: 7, Body: []byte("x"), Ack: AckFull})
	if err != nil {
		f.Fatal(err)
	}
	fb, err := feedbackOp(&feedbackEntry{seq: 9, rec: FeedbackRecord{OriginalMessageID: "m", StatusCode: StatusSuccess}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good.Key, good.Value)
	f.Add(fb.Key, fb.Value)
	f.Add(messageKey("d1", 1), []byte(`{"deviceId":"d1","sequenceNumber":1,"lockToken":"t","body":"eA=="}`))
	f.Add(messageKey("d1", 2), []byte(`{"deviceId":"d1","sequenceNumber":1}`))
	f.Add(feedbackKey(-1), []byte(`{"sequenceNumber":-1}`))
	f.Add("", []byte(`{`))
	f.Fuzz(func(t *testing.T, key string, value []byte) {
		if m, err := decodeMessage(key, value); err == nil {
			if m.LockToken != "" || messageKey(m.DeviceID, m.SequenceNumber) != key || m.SequenceNumber <= 0 {
				t.Fatalf("accepted %+v under %q", m, key)
			}
		}
		if r, err := decodeFeedback(key, value); err == nil {
			if feedbackKey(r.SequenceNumber) != key || r.SequenceNumber <= 0 {
				t.Fatalf("accepted %+v under %q", r, key)
			}
		}
	})
}
