package iothubtest_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/iothubtest"
)

// TestParallelHubsDoNotInterfere runs the same scenario, with the same
// device id, on several hubs at once: each sees only its own traffic.
func TestParallelHubsDoNotInterfere(t *testing.T) {
	for _, name := range []string{"one", "two", "three"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := iothubtest.Start(t)
			dev := h.CreateDevice(t, "sensor")
			in := newInbox(t)
			c := h.DialMQTT(t, dev.ConnectionString, in.option)
			subscribe(t, c, "$iothub/twin/PATCH/properties/desired/#")
			subscribe(t, c, "devices/sensor/messages/devicebound/#")

			publish(t, c, "devices/sensor/messages/events/", "from "+name)
			h.UpdateDesired(t, "sensor", map[string]any{"owner": name})
			h.SendC2D(t, "sensor", []byte("to "+name), nil)

			if m := h.NextTelemetry(t, "sensor", wait); string(m.Body) != "from "+name {
				t.Fatalf("telemetry %q", m.Body)
			}
			// Only what this hub sent arrives, in order.
			if m := in.next("$iothub/twin/PATCH/properties/desired/"); !bytes.Contains(m.Payload(), []byte(`"owner":"`+name+`"`)) {
				t.Fatalf("desired %s", m.Payload())
			}
			if m := in.next("devices/sensor/messages/devicebound/"); string(m.Payload()) != "to "+name {
				t.Fatalf("C2D %q", m.Payload())
			}
			mustFail(t, func(tb testing.TB) { h.NextTelemetry(tb, "sensor", 100*time.Millisecond) }, "1 returned before")
			in.empty()
		})
	}
}

func TestHubsHaveTheirOwnKeysCAsAndPorts(t *testing.T) {
	a, b := iothubtest.Start(t), iothubtest.Start(t)
	da, db := a.CreateDevice(t, "same"), b.CreateDevice(t, "same")
	if da.PrimaryKey == db.PrimaryKey || bytes.Equal(a.CAPEM(), b.CAPEM()) || a.MQTTAddr() == b.MQTTAddr() {
		t.Fatalf("hubs share keys, CA or port: %v %v", a.MQTTAddr(), b.MQTTAddr())
	}
	mustFail(t, func(tb testing.TB) { b.DialMQTT(tb, da.ConnectionString) }, "not Authorized")
	a.DialMQTT(t, da.ConnectionString)
}
