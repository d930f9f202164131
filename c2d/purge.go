package c2d

import (
	"context"

	"github.com/iothub-emulator/iothub-emulator/store"
)

// Purge removes every pending message of the device, locked or not, and
// returns how many it removed. Purged messages produce no feedback.
func (q *Queues) Purge(ctx context.Context, deviceID string) (int, error) {
	return q.drop(ctx, deviceID, true)
}

// DeleteDevice drops the queue of a deleted device, without feedback and
// without PendingChanged (the device is gone).
func (q *Queues) DeleteDevice(ctx context.Context, deviceID string) error {
	_, err := q.drop(ctx, deviceID, false)
	return err
}

func (q *Queues) drop(ctx context.Context, deviceID string, notify bool) (int, error) {
	d := q.lookup(deviceID)
	if d == nil {
		if q.isClosed() {
			return 0, errClosed()
		}
		return 0, nil
	}
	d.op.Lock()
	n, err := q.dropLocked(ctx, d, deviceID)
	d.op.Unlock()
	if err != nil {
		return 0, err
	}
	q.log.Debug("c2d: queue dropped", "device", deviceID, "messages", n, "purge", notify)
	if notify && n > 0 {
		q.notifyPending(deviceID)
	}
	return n, nil
}

func (q *Queues) dropLocked(ctx context.Context, d *device, deviceID string) (int, error) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return 0, errClosed()
	}
	ops := make([]store.Op, 0, len(d.entries))
	for _, e := range d.entries {
		ops = append(ops, store.Op{Bucket: store.C2D, Key: messageKey(deviceID, e.msg.SequenceNumber)})
	}
	q.mu.Unlock()
	if len(ops) == 0 {
		return 0, nil
	}
	if err := q.apply(ctx, ops); err != nil {
		return 0, err
	}
	// Nothing joined the queue meanwhile: enqueues also hold d.op.
	q.mu.Lock()
	d.entries = nil
	q.mu.Unlock()
	return len(ops), nil
}
