package hub

import (
	"context"

	"github.com/iothub-emulator/iothub-emulator/registry"
)

// DeviceTwin returns the twin as a device GETs it over MQTT.
func (h *Hub) DeviceTwin(_ context.Context, deviceID string) ([]byte, error) {
	e := h.get(deviceID)
	if e == nil {
		return nil, deviceNotFound(deviceID)
	}
	return e.twin.DeviceJSON(), nil
}

// PatchReported applies a device's reported-properties patch and returns
// the new reported $version.
func (h *Hub) PatchReported(ctx context.Context, deviceID string, patch []byte) (int64, error) {
	unlock := h.locks.Lock(deviceID)
	defer unlock()
	cur := h.get(deviceID)
	if cur == nil {
		return 0, deviceNotFound(deviceID)
	}
	next := &entry{record: cur.record, twin: cur.twin.Clone()}
	version, err := next.twin.PatchReported(patch, h.now())
	if err != nil {
		return 0, err
	}
	next.record.Device.LastActivityTime = h.timestamp()
	if err := h.persist(ctx, deviceID, next); err != nil {
		return 0, err
	}
	h.publish(deviceID, next)
	h.log.Debug("reported properties patched", "device", deviceID, "reportedVersion", version)
	return version, nil
}

// SetConnected records a device connecting (with the model id it announced)
// or disconnecting, so the twin and identity show it at once.
func (h *Hub) SetConnected(ctx context.Context, deviceID string, connected bool, modelID string) {
	unlock := h.locks.Lock(deviceID)
	defer unlock()
	cur := h.get(deviceID)
	if cur == nil {
		return
	}
	next := &entry{record: cur.record, twin: cur.twin}
	now := h.timestamp()
	d := &next.record.Device
	if connected {
		d.ConnectionState = registry.Connected
		next.record.ModelID = modelID
	} else {
		d.ConnectionState = registry.Disconnected
	}
	d.ConnectionStateUpdatedTime = now
	d.LastActivityTime = now
	if err := h.persist(ctx, deviceID, next); err != nil {
		// The connection itself is not at stake; keep the state in memory.
		h.log.Warn("could not persist connection state", "device", deviceID, "err", err)
	}
	h.publish(deviceID, next)
	h.log.Info("device connection", "device", deviceID, "state", d.ConnectionState)
}
