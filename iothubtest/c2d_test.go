package iothubtest_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/iothub-emulator/iothub-emulator/iothubtest"
)

func TestSendC2DReachesASubscribedDevice(t *testing.T) {
	h := iothubtest.Start(t)
	dev := h.CreateDevice(t, "d1")

	// Queued while the device is offline.
	first := h.SendC2D(t, "d1", []byte("queued"), nil)
	if first.MessageID == "" || first.DeviceID != "d1" || first.SequenceNumber == 0 || first.ExpiryTime.IsZero() {
		t.Fatalf("queued message %+v", first)
	}
	if n := h.Twin(t, "d1")["cloudToDeviceMessageCount"]; n != float64(1) {
		t.Fatalf("cloudToDeviceMessageCount = %v", n)
	}

	in := newInbox(t)
	c := h.DialMQTT(t, dev.ConnectionString, in.option)
	subscribe(t, c, "devices/d1/messages/devicebound/#")
	m := in.next("devices/d1/messages/devicebound/")
	if string(m.Payload()) != "queued" || !strings.Contains(m.Topic(), "%24.mid="+url.QueryEscape(first.MessageID)) {
		t.Fatalf("first delivery %s %q", m.Topic(), m.Payload())
	}

	// Sent while connected, with properties.
	second := h.SendC2D(t, "d1", []byte("live"), map[string]string{"cmd": "on off"})
	m = in.next("devices/d1/messages/devicebound/")
	if string(m.Payload()) != "live" || !strings.Contains(m.Topic(), "cmd=on%20off") ||
		!strings.Contains(m.Topic(), "%24.mid="+url.QueryEscape(second.MessageID)) {
		t.Fatalf("second delivery %s %q", m.Topic(), m.Payload())
	}
	// The device's PUBACKs complete both.
	h.WaitTwin(t, "d1", wait, func(tw map[string]any) bool { return tw["cloudToDeviceMessageCount"] == float64(0) })
	in.empty()
}
