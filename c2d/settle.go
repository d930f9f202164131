package c2d

import (
	"context"
	"slices"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/store"
)

// fate decides what happens to a message that is being settled; gen is the
// device's generation id for feedback.
type fate func(m Message, now time.Time, gen string) (change, error)

// Complete settles a delivered message as done: it leaves the queue and, if
// its ack mode asks, a Success feedback record is kept. A lock token that
// is unknown or whose lock ran out fails with DeviceMessageLockLost.
func (q *Queues) Complete(ctx context.Context, deviceID, lockToken string) error {
	return q.settle(ctx, deviceID, lockToken, func(m Message, now time.Time, gen string) (change, error) {
		return q.completion(ctx, m, now, gen)
	})
}

// Abandon puts a delivered message back in the queue, visible again, unless
// it has expired or used up its deliveries, when it is dead-lettered.
func (q *Queues) Abandon(ctx context.Context, deviceID, lockToken string) error {
	err := q.settle(ctx, deviceID, lockToken, func(m Message, now time.Time, gen string) (change, error) {
		return q.release(ctx, m, now, gen)
	})
	if err == nil {
		q.pump(deviceID)
	}
	return err
}

// Reject dead-letters a delivered message (feedback "Rejected" if its ack
// mode asks for negative feedback).
func (q *Queues) Reject(ctx context.Context, deviceID, lockToken string) error {
	return q.settle(ctx, deviceID, lockToken, func(m Message, now time.Time, gen string) (change, error) {
		return q.deadLetter(ctx, m, StatusRejected, now, gen)
	})
}

// settle finds the message locked with lockToken and applies decide to it.
// The caller's functions (generation id, PendingChanged) run outside the
// device lock, so they may call back into the queues.
func (q *Queues) settle(ctx context.Context, deviceID, lockToken string, decide fate) error {
	d := q.lookup(deviceID)
	if d == nil || lockToken == "" {
		return lockLost(deviceID)
	}
	gen := q.generation(deviceID)
	d.op.Lock()
	removed, err := q.settleLocked(ctx, d, deviceID, lockToken, gen, decide)
	d.op.Unlock()
	if removed {
		q.notifyPending(deviceID)
	}
	return err
}

func (q *Queues) settleLocked(ctx context.Context, d *device, deviceID, lockToken, gen string, decide fate) (removed bool, err error) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false, errClosed()
	}
	now := q.now()
	i := slices.IndexFunc(d.entries, func(e *entry) bool { return e.lockToken == lockToken })
	if i < 0 || !now.Before(d.entries[i].lockedUntil) {
		q.mu.Unlock()
		return false, lockLost(deviceID)
	}
	e := d.entries[i]
	m := e.msg.clone()
	q.mu.Unlock()

	ch, err := decide(m, now, gen)
	if err != nil {
		return false, err
	}
	ch.entry, ch.msg = e, m
	return q.commit(ctx, d, deviceID, []change{ch})
}

func lockLost(deviceID string) error {
	return errcode.New(errcode.DeviceMessageLockLost,
		"The lock token is not valid for device %s: the message was already settled or its lock expired.", deviceID)
}

// generation returns the device's generation id for feedback records.
func (q *Queues) generation(deviceID string) string {
	if q.generationID == nil {
		return ""
	}
	return q.generationID(deviceID)
}

// change is the decided fate of one queued message, applied to memory only
// after its write committed.
type change struct {
	entry    *entry
	msg      Message        // the message as it was decided on
	remove   bool           // completed or dead-lettered
	visible  Message        // when !remove: the message back in the queue (its delivery count kept)
	feedback *feedbackEntry // nil: no feedback
}

func (q *Queues) completion(ctx context.Context, m Message, now time.Time, gen string) (change, error) {
	ch := change{remove: true}
	if m.wantsFeedback(true) {
		fb, err := q.newFeedback(ctx, m, StatusSuccess, now, gen)
		if err != nil {
			return change{}, err
		}
		ch.feedback = fb
	}
	return ch, nil
}

func (q *Queues) deadLetter(ctx context.Context, m Message, status string, now time.Time, gen string) (change, error) {
	ch := change{remove: true}
	if m.wantsFeedback(false) {
		fb, err := q.newFeedback(ctx, m, status, now, gen)
		if err != nil {
			return change{}, err
		}
		ch.feedback = fb
	}
	return ch, nil
}

// release ends a delivery without completion (abandon or lock timeout).
func (q *Queues) release(ctx context.Context, m Message, now time.Time, gen string) (change, error) {
	switch {
	case !now.Before(m.ExpiryTime):
		return q.deadLetter(ctx, m, StatusExpired, now, gen)
	case m.DeliveryCount >= q.maxDelivery:
		return q.deadLetter(ctx, m, StatusDeliveryCountExceeded, now, gen)
	}
	return change{visible: m}, nil
}

// commit persists changes of one device, then applies them to memory.
// It runs with d.op held; removed tells the caller to report the new
// pending count once it has let go of d.op.
func (q *Queues) commit(ctx context.Context, d *device, deviceID string, changes []change) (removed bool, err error) {
	if len(changes) == 0 {
		return false, nil
	}
	var ops []store.Op
	for _, ch := range changes {
		m := ch.msg
		if ch.remove {
			ops = append(ops, store.Op{Bucket: store.C2D, Key: messageKey(m.DeviceID, m.SequenceNumber)})
		} else {
			op, err := messageOp(ch.visible)
			if err != nil {
				return false, err
			}
			ops = append(ops, op)
		}
		if ch.feedback != nil {
			op, err := feedbackOp(ch.feedback)
			if err != nil {
				return false, err
			}
			ops = append(ops, op)
		}
	}
	if err := q.apply(ctx, ops); err != nil {
		return false, err
	}

	q.mu.Lock()
	fed := false
	for _, ch := range changes {
		if ch.remove {
			d.entries = slices.DeleteFunc(d.entries, func(e *entry) bool { return e == ch.entry })
			removed = true
		} else {
			ch.entry.msg = ch.visible
			ch.entry.lockToken = ""
			ch.entry.lockedUntil = time.Time{}
		}
		if ch.feedback != nil {
			q.feedback = append(q.feedback, ch.feedback)
			fed = true
		}
	}
	if fed {
		close(q.fbReady)
		q.fbReady = make(chan struct{})
	}
	q.mu.Unlock()

	for _, ch := range changes {
		outcome := "visible again"
		switch {
		case ch.remove && ch.feedback != nil:
			outcome = ch.feedback.rec.StatusCode
		case ch.remove:
			outcome = "removed"
		}
		q.log.Debug("c2d: settled", "device", deviceID, "messageId", ch.msg.MessageID, "outcome", outcome)
	}
	if fed {
		q.wake() // new feedback expiry
	}
	return removed, nil
}
