package hub

import (
	"context"
	"strings"
)

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
	if h.telemetry != nil {
		if err := h.telemetry.Clear(ctx); err != nil {
			return err
		}
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
	return h.removeDevice(ctx, id)
}

// removeDevice deletes a device, its modules and their twins in one store
// transaction, ends their connections and drops the device's queue. The
// caller holds the device's lock.
func (h *Hub) removeDevice(ctx context.Context, id string) error {
	modules := h.moduleKeys(id)
	changes := map[string]*entry{id: nil}
	for _, k := range modules {
		changes[k] = nil
	}
	if err := h.persist(ctx, changes); err != nil {
		return err
	}
	for k := range changes {
		h.publish(k, nil)
	}
	for _, k := range modules {
		h.disconnect(id, strings.TrimPrefix(k, id+"/"))
	}
	h.disconnect(id, "")
	h.dropC2D(ctx, id)
	return nil
}
