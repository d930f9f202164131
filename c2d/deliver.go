package c2d

import (
	"sync"
	"time"
)

// DeviceReady offers the device every visible message, in enqueue order:
// call it when the device has connected and subscribed.
func (q *Queues) DeviceReady(deviceID string) {
	q.pump(deviceID)
}

// pump delivers the device's visible, unexpired messages in order until
// none is left or the transport refuses one. One loop runs per device at a
// time; a call that finds one running marks it to try again should the
// transport refuse, since the device may just have become ready. Deliver is
// called with no lock held, so a transport may acknowledge inside Deliver.
func (q *Queues) pump(deviceID string) {
	q.mu.Lock()
	d := q.devices[deviceID]
	if d == nil {
		q.mu.Unlock()
		return
	}
	if d.pumping {
		d.rescan = true
		q.mu.Unlock()
		return
	}
	d.pumping = true
	locked := false
	for !q.closed {
		now := q.now()
		e := d.nextVisible(now)
		if e == nil {
			break
		}
		t := q.transport
		token := newGUID()
		e.lockToken = token
		e.lockedUntil = now.Add(q.lockTimeout)
		e.msg.DeliveryCount++
		m := e.snapshot()
		d.rescan = false
		q.mu.Unlock()

		err := t.Deliver(deviceID, m, q.ackFunc(deviceID, token))

		q.mu.Lock()
		if err == nil {
			locked = true
			q.log.Debug("c2d: delivered", "device", deviceID, "messageId", m.MessageID, "deliveryCount", m.DeliveryCount)
			continue
		}
		// Not delivered, so not counted: undo the lock unless the message
		// was settled meanwhile.
		if e.lockToken == token {
			e.lockToken = ""
			e.lockedUntil = time.Time{}
			e.msg.DeliveryCount--
		}
		q.log.Debug("c2d: device cannot take messages now", "device", deviceID, "err", err)
		if !d.rescan {
			break
		}
	}
	d.pumping = false
	d.rescan = false
	q.mu.Unlock()
	if locked {
		q.wake() // new lock deadlines
	}
}

// nextVisible returns the first message no device holds and that has not
// expired; expired ones wait for the scheduler to dead-letter them.
func (d *device) nextVisible(now time.Time) *entry {
	for _, e := range d.entries {
		if e.lockToken == "" && now.Before(e.msg.ExpiryTime) {
			return e
		}
	}
	return nil
}

// ackFunc is the completion a transport calls once the device acknowledged
// the delivery locked with token.
func (q *Queues) ackFunc(deviceID, token string) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			if err := q.Complete(q.ctx, deviceID, token); err != nil {
				q.log.Debug("c2d: acknowledgement not applied", "device", deviceID, "err", err)
			}
		})
	}
}
