package iothubtest

import (
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/faults"
)

// DropConnection closes the device's (or module's, with "dev/mod" split
// into deviceID and moduleID) current MQTT connection, as a network failure
// would. The device may reconnect at once.
func (h *Hub) DropConnection(deviceID, moduleID string) {
	h.emu.Faults().DropConnection(deviceID, moduleID)
}

// RefuseConnects makes the hub refuse the identity's connections for d
// (CONNACK 3, server unavailable, which the SDKs retry).
func (h *Hub) RefuseConnects(t testing.TB, deviceID, moduleID string, d time.Duration) {
	t.Helper()
	if _, err := h.emu.Faults().RefuseConnects(deviceID, moduleID, d); err != nil {
		t.Fatalf("iothubtest: refuse connects of %s: %v", deviceID, err)
	}
}

// DelayTwin delays every twin response to the identity by delay, for d.
func (h *Hub) DelayTwin(t testing.TB, deviceID, moduleID string, delay, d time.Duration) {
	t.Helper()
	if _, err := h.emu.Faults().DelayTwin(deviceID, moduleID, delay, d); err != nil {
		t.Fatalf("iothubtest: delay twin of %s: %v", deviceID, err)
	}
}

// Throttle answers service operations of class op with 429
// ThrottlingException for d (for example faults.TwinReads, faults.Queries).
func (h *Hub) Throttle(t testing.TB, op faults.Operation, d time.Duration) {
	t.Helper()
	if _, err := h.emu.Faults().Throttle(op, d); err != nil {
		t.Fatalf("iothubtest: throttle %s: %v", op, err)
	}
}

// ClearFaults ends every fault in effect.
func (h *Hub) ClearFaults() { h.emu.Faults().Clear() }
