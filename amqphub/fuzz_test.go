package amqphub

import (
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/amqp"
)

// FuzzC2DMessage: whatever message a service sends to /messages/devicebound
// maps to a device and a queued message or to an error, never a panic.
func FuzzC2DMessage(f *testing.F) {
	for _, m := range []*amqp.Message{
		{Properties: &amqp.Properties{To: "/devices/d1/messages/devicebound", MessageID: uint64(9)}, Data: [][]byte{[]byte("x")}},
		{Properties: &amqp.Properties{To: "/devices/a%2Fb/messages/devicebound", MessageID: amqp.UUID{1}, AbsoluteExpiryTime: time.Unix(1, 0)},
			ApplicationProperties: map[string]any{"iothub-ack": "full", "n": int64(3)}, Value: "body"},
		{Properties: &amqp.Properties{To: "amqps://h/devices/d/messages/devicebound"}},
	} {
		b, err := m.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := amqp.UnmarshalMessage(data)
		if err != nil {
			return
		}
		id, _, err := c2dMessage(m)
		if err == nil && id == "" {
			t.Fatal("a message mapped to no device")
		}
	})
}

// FuzzLinkPath: address normalisation is total.
func FuzzLinkPath(f *testing.F) {
	for _, s := range []string{"amqps://h:5671/messages/devicebound", "/$cbs", "$management", "a/b/", "amqps://%zz", "://"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		if p := linkPath(addr); p == "" || p[0] != '/' {
			t.Fatalf("linkPath(%q) = %q", addr, p)
		}
	})
}
