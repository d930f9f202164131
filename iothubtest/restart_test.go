package iothubtest_test

import (
	"bytes"
	"testing"

	"github.com/iothub-emulator/iothub-emulator/iothubtest"
)

func TestRestartWithDataDirKeepsDevicesTwinsAndTelemetry(t *testing.T) {
	dir := t.TempDir()
	h := iothubtest.Start(t, iothubtest.WithDataDir(dir))
	dev := h.CreateDevice(t, "d1")
	h.CreateModule(t, "d1", "m1")
	h.UpdateDesired(t, "d1", map[string]any{"interval": 5})
	h.SetReported(t, "d1", map[string]any{"firmware": "1.2.0"})
	c := h.DialMQTT(t, dev.ConnectionString)
	publish(t, c, "devices/d1/messages/events/", "before restart")
	h.SendC2D(t, "d1", []byte("pending"), nil)
	ca := h.CAPEM()
	c.Disconnect(50)
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}

	h2 := iothubtest.Start(t, iothubtest.WithDataDir(dir))
	if !bytes.Equal(h2.CAPEM(), ca) {
		t.Fatal("the CA changed across the restart")
	}
	tw := h2.Twin(t, "d1")
	if iothubtest.Lookup(tw, "properties.desired.interval") != float64(5) ||
		iothubtest.Lookup(tw, "properties.reported.firmware") != "1.2.0" ||
		tw["cloudToDeviceMessageCount"] != float64(1) || tw["connectionState"] != "Disconnected" {
		t.Fatalf("twin after restart %v", tw)
	}
	h2.ModuleTwin(t, "d1", "m1")
	// The old connection string still works, and the kept message arrives.
	in := newInbox(t)
	c2 := h2.DialMQTT(t, dev.ConnectionString, in.option)
	subscribe(t, c2, "devices/d1/messages/devicebound/#")
	if m := in.next("devices/d1/messages/devicebound/"); string(m.Payload()) != "pending" {
		t.Fatalf("C2D after restart %q", m.Payload())
	}
	// A new Hub starts reading telemetry from the oldest message it keeps.
	if m := h2.NextTelemetry(t, "d1", wait); string(m.Body) != "before restart" {
		t.Fatalf("telemetry after restart %q", m.Body)
	}
}

func TestInMemoryHubsShareNothing(t *testing.T) {
	h := iothubtest.Start(t)
	h.CreateDevice(t, "d1")
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	h2 := iothubtest.Start(t)
	mustFail(t, func(tb testing.TB) { h2.Twin(tb, "d1") }, "not registered")
}
