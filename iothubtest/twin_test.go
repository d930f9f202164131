package iothubtest_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/iothubtest"
)

func TestTwinRoundTripWithADevice(t *testing.T) {
	h := iothubtest.Start(t)
	dev := h.CreateDevice(t, "d1")
	in := newInbox(t)
	c := h.DialMQTT(t, dev.ConnectionString, in.option)
	subscribe(t, c, "$iothub/twin/res/#")
	subscribe(t, c, "$iothub/twin/PATCH/properties/desired/#")

	// The back end's desired change reaches the device, with $version.
	h.UpdateDesired(t, "d1", map[string]any{"interval": 5, "mode": "eco"})
	m := in.next("$iothub/twin/PATCH/properties/desired/?$version=2")
	var patch map[string]any
	if err := json.Unmarshal(m.Payload(), &patch); err != nil || patch["interval"] != float64(5) || patch["mode"] != "eco" || patch["$version"] != float64(2) {
		t.Fatalf("desired notification %s (%v)", m.Payload(), err)
	}

	// What the device reports shows in the twin.
	publish(t, c, "$iothub/twin/PATCH/properties/reported/?$rid=1", `{"firmware":"1.2.0","battery":{"level":80}}`)
	in.next("$iothub/twin/res/204/?$rid=1")
	tw := h.Twin(t, "d1")
	for path, want := range map[string]any{
		"deviceId":                             "d1",
		"connectionState":                      "Connected",
		"properties.desired.interval":          float64(5),
		"properties.desired.$version":          float64(2),
		"properties.reported.firmware":         "1.2.0",
		"properties.reported.battery.level":    float64(80),
		"properties.reported.$version":         float64(2),
		"properties.reported.battery.missing":  nil,
		"properties.reported.firmware.deeper":  nil,
		"properties.reported.$metadata.nobody": nil,
	} {
		if got := iothubtest.Lookup(tw, path); got != want {
			t.Errorf("%s = %v (%T), want %v", path, got, got, want)
		}
	}

	// SetReported acts as the device: the device reads it back with GET.
	h.SetReported(t, "d1", map[string]any{"battery": map[string]any{"level": 79}, "firmware": nil})
	publish(t, c, "$iothub/twin/GET/?$rid=2", " ")
	m = in.next("$iothub/twin/res/200/?$rid=2")
	var got struct {
		Desired  map[string]any `json:"desired"`
		Reported map[string]any `json:"reported"`
	}
	if err := json.Unmarshal(m.Payload(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Reported["$version"] != float64(3) || got.Reported["firmware"] != nil || got.Desired["mode"] != "eco" ||
		iothubtest.Lookup(got.Reported, "battery.level") != float64(79) {
		t.Fatalf("device GET %s", m.Payload())
	}

	// A nil desired value deletes the property, and the device hears of it.
	h.UpdateDesired(t, "d1", map[string]any{"mode": nil})
	m = in.next("$iothub/twin/PATCH/properties/desired/?$version=3")
	if !strings.Contains(string(m.Payload()), `"mode":null`) {
		t.Fatalf("delete notification %s", m.Payload())
	}
	if _, ok := h.Twin(t, "d1")["properties"].(map[string]any)["desired"].(map[string]any)["mode"]; ok {
		t.Fatal("mode still desired after a nil patch")
	}
	in.empty()
}

func TestTwinIsTheCallersCopy(t *testing.T) {
	h := iothubtest.Start(t)
	h.CreateDevice(t, "d1")
	h.SetReported(t, "d1", map[string]any{"a": 1})
	tw := h.Twin(t, "d1")
	tw["deviceId"] = "changed"
	tw["properties"].(map[string]any)["reported"].(map[string]any)["a"] = "changed"
	again := h.Twin(t, "d1")
	if again["deviceId"] != "d1" || iothubtest.Lookup(again, "properties.reported.a") != float64(1) {
		t.Fatalf("changing a returned twin changed the hub: %v", again)
	}
}

func TestModuleTwinIsSeparateFromItsDevice(t *testing.T) {
	h := iothubtest.Start(t)
	h.CreateDevice(t, "d1")
	mod := h.CreateModule(t, "d1", "m1")
	in := newInbox(t)
	c := h.DialMQTT(t, mod.ConnectionString, in.option)
	subscribe(t, c, "$iothub/twin/res/#")
	publish(t, c, "$iothub/twin/PATCH/properties/reported/?$rid=m", `{"status":"scanning"}`)
	in.next("$iothub/twin/res/204/?$rid=m")

	mt := h.ModuleTwin(t, "d1", "m1")
	if mt["moduleId"] != "m1" || iothubtest.Lookup(mt, "properties.reported.status") != "scanning" {
		t.Fatalf("module twin %v", mt)
	}
	if v := iothubtest.Lookup(h.Twin(t, "d1"), "properties.reported.status"); v != nil {
		t.Fatalf("the device twin has its module's reported status %v", v)
	}
}

func TestWaitTwinSeesWhatADeviceReportsInTheBackground(t *testing.T) {
	h := iothubtest.Start(t)
	dev := h.CreateDevice(t, "d1")
	in := newInbox(t)
	c := h.DialMQTT(t, dev.ConnectionString, in.option)
	subscribe(t, c, "$iothub/twin/res/#")

	// Device code that reports only once WaitTwin has looked and not found
	// it: WaitTwin must keep looking until the report lands.
	looked := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-looked:
		case <-time.After(wait):
			return // WaitTwin fails the test meanwhile
		}
		c.Publish("$iothub/twin/PATCH/properties/reported/?$rid=late", 1, false, `{"ready":true}`).WaitTimeout(wait)
	}()
	var looks, readyAt int
	tw := h.WaitTwin(t, "d1", wait, func(tw map[string]any) bool {
		looks++
		if looks == 1 {
			close(looked)
		}
		ready := iothubtest.Lookup(tw, "properties.reported.ready") == true
		if ready && readyAt == 0 {
			readyAt = looks
		}
		return ready
	})
	<-done
	if iothubtest.Lookup(tw, "properties.reported.ready") != true || readyAt < 2 {
		t.Fatalf("WaitTwin returned %v on look %d (ready first seen on look %d)", tw, looks, readyAt)
	}
	in.next("$iothub/twin/res/204/?$rid=late")

	// Disconnecting shows in the twin soon after.
	c.Disconnect(50)
	h.WaitTwin(t, "d1", 0, func(tw map[string]any) bool { return tw["connectionState"] == "Disconnected" })
}
