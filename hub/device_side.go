package hub

import "context"

// DeviceTwin returns the twin as a device or module GETs it over MQTT.
func (h *Hub) DeviceTwin(_ context.Context, deviceID, moduleID string) ([]byte, error) {
	e, err := h.lookup(deviceID, moduleID)
	if err != nil {
		return nil, err
	}
	h.stats.twinOps.Inc("device-read")
	return e.twin.DeviceJSON(), nil
}

// PatchReported applies a device's (or module's) reported-properties patch
// and returns the new reported $version.
func (h *Hub) PatchReported(ctx context.Context, deviceID, moduleID string, patch []byte) (int64, error) {
	unlock := h.locks.Lock(deviceID)
	defer unlock()
	cur, err := h.lookup(deviceID, moduleID)
	if err != nil {
		return 0, err
	}
	tw, err := cur.twin.PatchedReported(patch, h.now())
	if err != nil {
		return 0, err
	}
	version := tw.ReportedVersion()
	next := cur.with()
	next.twin = tw
	next.lastActivity = h.stamp()
	if err := h.commitTwin(ctx, identityKey(deviceID, moduleID), next); err != nil {
		return 0, err
	}
	h.stats.twinOps.Inc("reported")
	h.log.Debug("reported properties patched", "device", deviceID, "module", moduleID, "reportedVersion", version)
	return version, nil
}

// SetConnected records an identity connecting (with the model id it
// announced) or disconnecting, so the twin and identity show it at once.
func (h *Hub) SetConnected(ctx context.Context, deviceID, moduleID string, connected bool, modelID string) {
	unlock := h.locks.Lock(deviceID)
	defer unlock()
	cur, err := h.lookup(deviceID, moduleID)
	if err != nil {
		return
	}
	next := cur.with()
	now := h.stamp()
	next.connected, next.connectionUpdated, next.lastActivity = connected, now, now
	if connected {
		next.modelID = modelID
	}
	if err := h.commit(ctx, identityKey(deviceID, moduleID), next); err != nil {
		// The connection itself is not at stake; the state is lost only if the hub stops now.
		h.log.Warn("could not persist connection state", "device", deviceID, "module", moduleID, "err", err)
		h.publish(identityKey(deviceID, moduleID), next)
	}
	h.log.Info("connection", "device", deviceID, "module", moduleID, "state", next.connectionState())
}
