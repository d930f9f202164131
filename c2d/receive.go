package c2d

// Receive hands a polling device (device-facing HTTPS) its next visible,
// unexpired message, locked for the lock timeout and counted as a
// delivery, as a push delivery is; ok is false when there is none. The
// device settles it with Complete, Abandon or Reject and the returned
// LockToken; a lock that runs out makes it visible again.
func (q *Queues) Receive(deviceID string) (m Message, ok bool, err error) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return Message{}, false, errClosed()
	}
	d := q.devices[deviceID]
	var e *entry
	if d != nil {
		e = d.nextVisible(q.now())
	}
	if e == nil {
		q.mu.Unlock()
		return Message{}, false, nil
	}
	e.lockToken = newGUID()
	e.lockedUntil = q.now().Add(q.lockTimeout)
	e.msg.DeliveryCount++
	m = e.snapshot()
	q.mu.Unlock()
	q.wake() // a new lock deadline
	q.log.Debug("c2d: received", "device", deviceID, "messageId", m.MessageID, "deliveryCount", m.DeliveryCount)
	return m, true, nil
}
