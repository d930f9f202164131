package c2d

import (
	"context"
	"fmt"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/store"
)

// Enqueue adds m to the device's queue and returns it as queued (ids,
// sequence number, times filled in). It fails with
// DeviceMaximumQueueDepthExceeded when MaxPending messages are pending,
// MessageTooLarge when body and properties exceed 64 KB, and ArgumentInvalid
// for a bad ack mode, property name, message id or an expiry in the past.
// The message is durable before Enqueue returns; then it is offered to the
// device if the transport can take it.
func (q *Queues) Enqueue(ctx context.Context, deviceID string, m Message) (Message, error) {
	if deviceID == "" {
		return Message{}, errcode.New(errcode.ArgumentInvalid, "A device id is required.")
	}
	m = m.clone()
	if err := normalize(&m); err != nil {
		return Message{}, err
	}
	d := q.device(deviceID)
	d.op.Lock()
	n, err := q.enqueueLocked(ctx, d, deviceID, &m)
	d.op.Unlock()
	if err != nil {
		return Message{}, err
	}
	q.notifyPending(deviceID)
	q.log.Debug("c2d: enqueued", "device", deviceID, "messageId", m.MessageID, "sequenceNumber", m.SequenceNumber, "pending", n)
	q.wake()
	q.pump(deviceID)
	return m.clone(), nil
}

// enqueueLocked runs with d.op held and returns the new pending count.
func (q *Queues) enqueueLocked(ctx context.Context, d *device, deviceID string, m *Message) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("c2d: enqueue: %w", err) // the sender gave up while waiting for the device
	}
	if q.exists != nil && !q.exists(deviceID) {
		return 0, errcode.New(errcode.DeviceNotFound, "Device %s not registered", deviceID)
	}
	q.mu.Lock()
	closed, pending := q.closed, len(d.entries)
	q.mu.Unlock()
	if closed {
		return 0, errClosed()
	}
	if pending >= q.maxPending {
		return 0, errcode.New(errcode.DeviceMaximumQueueDepthExceeded,
			"Device %s already has %d pending cloud-to-device messages; the limit is %d.", deviceID, pending, q.maxPending)
	}
	now := q.now().UTC()
	if !m.ExpiryTime.IsZero() && !m.ExpiryTime.After(now) {
		return 0, errcode.New(errcode.ArgumentInvalid, "The expiry time %s is not in the future.", m.ExpiryTime.UTC().Format(time.RFC3339))
	}
	seq, err := q.nextSeq(ctx)
	if err != nil {
		return 0, err
	}
	if m.MessageID == "" {
		m.MessageID = newGUID()
	}
	if m.ExpiryTime.IsZero() {
		m.ExpiryTime = now.Add(q.defaultTTL)
	}
	m.ExpiryTime = m.ExpiryTime.UTC()
	m.DeviceID = deviceID
	m.SequenceNumber = seq
	m.EnqueuedTime = now
	m.DeliveryCount = 0
	m.LockToken = ""

	op, err := messageOp(*m)
	if err != nil {
		return 0, err
	}
	if err := q.apply(ctx, []store.Op{op}); err != nil {
		return 0, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	d.entries = append(d.entries, &entry{msg: m.clone()})
	return len(d.entries), nil
}
