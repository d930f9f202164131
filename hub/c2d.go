package hub

import (
	"context"
	"fmt"

	"github.com/iothub-emulator/iothub-emulator/c2d"
	"github.com/iothub-emulator/iothub-emulator/registry"
)

// openC2D opens the hub's cloud-to-device queues, delivering through the
// hub's device link. The hub mirrors each device's pending count onto its
// identity and twin, and drops a deleted device's queue.
func (h *Hub) openC2D(opts c2d.Options) error {
	opts.Store = h.store
	opts.Transport = h.devices
	opts.PendingChanged = h.setC2DCount
	opts.DeviceGenerationID = h.GenerationID
	opts.DeviceExists = h.C2DAllowed
	if opts.Logger == nil {
		opts.Logger = h.log.With("component", "c2d")
	}
	q, err := c2d.Open(opts)
	if err != nil {
		return fmt.Errorf("cloud-to-device queues: %w", err)
	}
	h.c2d = q
	for _, key := range h.DeviceIDs() {
		if n := q.Pending(key); n > 0 {
			h.setC2DCount(key, n)
		}
	}
	return nil
}

// C2D is the hub's cloud-to-device queues.
func (h *Hub) C2D() *c2d.Queues { return h.c2d }

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
	if err := h.c2d.DeleteDevice(ctx, deviceID); err != nil {
		h.log.Warn("could not drop the cloud-to-device queue of a deleted device", "device", deviceID, "err", err)
	}
}
