package iothubtest

import (
	"context"
	"testing"

	"github.com/iothub-emulator/iothub-emulator/c2d"
)

// SendC2D queues a cloud-to-device message for a device, as a back end's
// send does, and returns it as queued (message id, sequence number, expiry
// filled in). The hub delivers it once the device is connected and
// subscribed to devices/{id}/messages/devicebound/#. It fails the test if
// the device does not exist or is disabled, or the hub refuses the message
// (too large, a reserved property name, a full queue). For other fields
// (message id, ack, expiry) use Emulator().C2D().Enqueue.
func (h *Hub) SendC2D(t testing.TB, deviceID string, body []byte, props map[string]string) c2d.Message {
	t.Helper()
	if !h.emu.Hub().C2DAllowed(deviceID) {
		t.Fatalf("iothubtest: send a cloud-to-device message to device %q: the device does not exist or is disabled", deviceID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	m, err := h.emu.C2D().Enqueue(ctx, deviceID, c2d.Message{Body: body, Properties: props})
	if err != nil {
		t.Fatalf("iothubtest: send a cloud-to-device message to device %q: %v", deviceID, err)
	}
	return m
}
