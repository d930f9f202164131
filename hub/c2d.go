package hub

import (
	"context"

	"github.com/iothub-emulator/iothub-emulator/c2d"
	"github.com/iothub-emulator/iothub-emulator/registry"
)

// AttachC2D connects the cloud-to-device queues: the hub mirrors each
// device's pending count onto its identity and twin, and drops a deleted
// device's queue. Call it once, before serving.
func (h *Hub) AttachC2D(q *c2d.Queues) {
	h.c2d.Store(q)
	q.OnPendingChange(h.setC2DCount)
	for _, key := range h.DeviceIDs() {
		if n := q.Pending(key); n > 0 {
			h.setC2DCount(key, n)
		}
	}
}

// setC2DCount updates cloudToDeviceMessageCount in memory: the queue, not
// the identity record, is the durable source of the count.
func (h *Hub) setC2DCount(deviceID string, pending int) {
	unlock := h.locks.Lock(deviceID)
	defer unlock()
	cur := h.device(deviceID)
	if cur == nil || cur.c2dCount == pending {
		return
	}
	next := cur.with()
	next.c2dCount = pending
	h.publish(deviceID, next)
}

// C2DAllowed reports whether cloud-to-device messages may be sent to a
// device: it exists and is enabled.
func (h *Hub) C2DAllowed(deviceID string) bool {
	e := h.device(deviceID)
	return e != nil && e.status == registry.StatusEnabled
}

// GenerationID is a device's current generation id, or "".
func (h *Hub) GenerationID(deviceID string) string {
	if e := h.device(deviceID); e != nil {
		return e.generationID
	}
	return ""
}

func (h *Hub) dropC2D(ctx context.Context, deviceID string) {
	if q := h.c2d.Load(); q != nil {
		if err := q.DeleteDevice(ctx, deviceID); err != nil {
			h.log.Warn("could not drop the cloud-to-device queue of a deleted device", "device", deviceID, "err", err)
		}
	}
}
