package iothubtest_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/emulator"
	"github.com/iothub-emulator/iothub-emulator/iothubtest"
)

func TestNextTelemetryReturnsEachMessageOnceInOrder(t *testing.T) {
	h := iothubtest.Start(t)
	a := h.DialMQTT(t, h.CreateDevice(t, "a").ConnectionString)
	b := h.DialMQTT(t, h.CreateDevice(t, "b").ConnectionString)
	mod := h.DialMQTT(t, h.CreateModule(t, "a", "m").ConnectionString)

	// Sent before anyone asks: not missed.
	publish(t, a, "devices/a/messages/events/%24.mid=a1&unit=celsius", "a-1")
	publish(t, b, "devices/b/messages/events/", "b-1")
	publish(t, mod, "devices/a/modules/m/messages/events/", "m-1")
	publish(t, a, "devices/a/messages/events/", "a-2")

	m := h.NextTelemetry(t, "a", wait)
	if string(m.Body) != "a-1" || m.DeviceID != "a" || m.ModuleID != "" || m.SystemProperties["message-id"] != "a1" || m.Properties["unit"] != "celsius" {
		t.Fatalf("first message of a: %+v", m)
	}
	// The module's message is not the device's.
	if m2 := h.NextTelemetry(t, "a", wait); string(m2.Body) != "a-2" || m2.SequenceNumber <= m.SequenceNumber {
		t.Fatalf("second message of a: %+v", m2)
	}
	if m := h.NextModuleTelemetry(t, "a", "m", wait); string(m.Body) != "m-1" || m.ModuleID != "m" {
		t.Fatalf("module message: %+v", m)
	}
	if m := h.NextTelemetry(t, "b", wait); string(m.Body) != "b-1" || m.DeviceID != "b" {
		t.Fatalf("message of b: %+v", m)
	}
	// Each was returned once: nothing is left.
	mustFail(t, func(tb testing.TB) { h.NextTelemetry(tb, "a", 50*time.Millisecond) }, `no telemetry from device "a"`, "2 returned before")
	mustFail(t, func(tb testing.TB) { h.NextModuleTelemetry(tb, "a", "m", 50*time.Millisecond) }, `no telemetry from module "m"`, "1 returned before")

	// A message sent while waiting is returned as soon as it arrives. The
	// sleep only makes it likely NextTelemetry is waiting by then; the
	// outcome is the same if it is not, and d2c's own tests prove the
	// parked path with a hook this package cannot reach.
	go func() {
		time.Sleep(100 * time.Millisecond)
		a.Publish("devices/a/messages/events/", 1, false, "a-3").WaitTimeout(wait)
	}()
	start := time.Now()
	if m := h.NextTelemetry(t, "a", wait); string(m.Body) != "a-3" {
		t.Fatalf("awaited message: %+v", m)
	}
	if d := time.Since(start); d > wait/2 {
		t.Fatalf("NextTelemetry took %v for a message sent after 100ms", d)
	}
}

func TestNextTelemetrySkipsMessagesTheLogNoLongerKeeps(t *testing.T) {
	h := iothubtest.Start(t, iothubtest.WithConfig(func(c *emulator.Config) { c.TelemetryMaxMessages = 2 }))
	c := h.DialMQTT(t, h.CreateDevice(t, "d").ConnectionString)
	for i := 1; i <= 3; i++ {
		publish(t, c, "devices/d/messages/events/", fmt.Sprint("m", i))
	}
	for _, want := range []string{"m2", "m3"} {
		if m := h.NextTelemetry(t, "d", wait); string(m.Body) != want {
			t.Fatalf("got %q, want %q", m.Body, want)
		}
	}
}

func TestNextTelemetryAfterCloseFailsAtOnce(t *testing.T) {
	h := iothubtest.Start(t)
	h.CreateDevice(t, "d")
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	mustFail(t, func(tb testing.TB) { h.NextTelemetry(tb, "d", wait) }, `no telemetry from device "d": the hub is closed`)
	if d := time.Since(start); d > wait/2 {
		t.Fatalf("NextTelemetry on a closed hub took %v", d)
	}
}
