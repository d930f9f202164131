package hub

import "context"

// Reset empties the hub: every device and module with its twin, every
// cloud-to-device queue and the telemetry log. Connected clients are
// disconnected. Sequence numbers and etags keep increasing.
func (h *Hub) Reset(ctx context.Context) error {
	devices := h.DeviceIDs()
	for _, id := range devices {
		if err := h.resetDevice(ctx, id); err != nil {
			return err
		}
	}
	if err := h.telemetry.Clear(ctx); err != nil {
		return err
	}
	h.log.Info("hub reset", "devices", len(devices))
	return nil
}

// resetDevice deletes one device with its modules, whatever its etag.
func (h *Hub) resetDevice(ctx context.Context, id string) error {
	unlock := h.locks.Lock(id)
	defer unlock()
	if h.get(id) == nil {
		return nil
	}
	return h.drop(ctx, id, "")
}
