package c2d

import (
	"context"
	"time"
)

// retryAfter spaces out sweeps while the store refuses writes, so a failing
// disk does not turn the scheduler into a busy loop.
const retryAfter = time.Second

// run is the scheduler: it settles whatever is due (lock timeouts, expired
// messages, old feedback), then sleeps until the next deadline or a wake.
func (q *Queues) run() {
	defer close(q.done)
	for {
		next, failed := q.sweep(q.ctx)
		var timer *time.Timer
		switch {
		case failed:
			timer = time.NewTimer(retryAfter)
		case !next.IsZero():
			timer = time.NewTimer(max(next.Sub(q.now()), 0))
		}
		var fire <-chan time.Time
		if timer != nil {
			fire = timer.C
		}
		select {
		case <-q.ctx.Done():
		case <-q.kick:
		case <-fire:
		}
		if timer != nil {
			timer.Stop()
		}
		if q.ctx.Err() != nil {
			return
		}
	}
}

// sweep settles everything due now and returns the next deadline (zero:
// none). failed reports a write that did not go through; it is retried.
func (q *Queues) sweep(ctx context.Context) (next time.Time, failed bool) {
	q.mu.Lock()
	now := q.now()
	var due []string
	for id, d := range q.devices {
		for _, e := range d.entries {
			if !now.Before(e.deadline()) {
				due = append(due, id)
				break
			}
		}
	}
	feedbackDue := false
	for _, f := range q.feedback {
		if !now.Before(f.rec.EnqueuedTime.Add(q.feedbackTTL)) {
			feedbackDue = true
			break
		}
	}
	q.mu.Unlock()

	for _, id := range due {
		released, err := q.settleDue(ctx, id)
		if err != nil {
			q.log.Warn("c2d: settling due messages failed", "device", id, "err", err)
			failed = true
		}
		if released {
			q.pump(id)
		}
	}
	if feedbackDue {
		if err := q.expireFeedback(ctx); err != nil {
			q.log.Warn("c2d: expiring feedback failed", "err", err)
			failed = true
		}
	}
	return q.nextDeadline(), failed
}

// nextDeadline is the earliest moment something will be due.
func (q *Queues) nextDeadline() time.Time {
	q.mu.Lock()
	defer q.mu.Unlock()
	var next time.Time
	earliest := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, d := range q.devices {
		for _, e := range d.entries {
			earliest(e.deadline())
		}
	}
	for _, f := range q.feedback {
		earliest(f.rec.EnqueuedTime.Add(q.feedbackTTL))
	}
	return next
}

// settleDue handles one device's due messages: a lock that ran out releases
// its message (visible again, or dead-lettered when expired or out of
// deliveries); a visible message past its expiry is dead-lettered.
// released reports whether a message became visible again.
func (q *Queues) settleDue(ctx context.Context, deviceID string) (released bool, err error) {
	d := q.lookup(deviceID)
	if d == nil {
		return false, nil
	}
	gen := q.generation(deviceID)
	d.op.Lock()
	released, removed, err := q.settleDueLocked(ctx, d, deviceID, gen)
	d.op.Unlock()
	if removed {
		q.notifyPending(deviceID)
	}
	return released, err
}

func (q *Queues) settleDueLocked(ctx context.Context, d *device, deviceID, gen string) (released, removed bool, err error) {
	type due struct {
		e      *entry
		m      Message
		locked bool
	}
	var work []due
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false, false, nil
	}
	now := q.now()
	for _, e := range d.entries {
		if !now.Before(e.deadline()) {
			work = append(work, due{e: e, m: e.msg.clone(), locked: e.lockToken != ""})
		}
	}
	q.mu.Unlock()

	changes := make([]change, 0, len(work))
	for _, w := range work {
		var ch change
		var err error
		if w.locked {
			ch, err = q.release(ctx, w.m, now, gen)
		} else {
			ch, err = q.deadLetter(ctx, w.m, StatusExpired, now, gen)
		}
		if err != nil {
			return false, false, err
		}
		ch.entry, ch.msg = w.e, w.m
		released = released || !ch.remove
		changes = append(changes, ch)
	}
	removed, err = q.commit(ctx, d, deviceID, changes)
	if err != nil {
		return false, false, err
	}
	return released, removed, nil
}
