package mqttbroker

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// slot orders the connections of one identity. IoT Hub keeps one connection
// per identity: a newer one takes over, and the hub must see Connected and
// Disconnected in the order they really happened, never a late Disconnected
// from a connection that was already replaced.
//
// Slots are created only for identities that authenticated (or were
// disconnected by the hub) and are kept for the broker's life: one small
// struct per identity, like mochi's own session per client id.
type slot struct {
	// hubMu orders Hub.Connected and Disconnected for the identity and is
	// held across those calls. mu guards the state and is never held across
	// a hub call, so a hub may call back into the broker (Disconnect, say).
	hubMu        sync.Mutex
	hubConnected bool // the hub was last told Connected; guarded by hubMu

	mu      sync.Mutex
	gen     uint64                  // bumped by Disconnect
	pending map[*session]struct{}   // authenticated, not yet established
	cur     atomic.Pointer[session] // the live connection; written under mu
	wake    chan struct{}           // closed (and replaced) by signal; see changed
}

// changed returns a channel closed at the identity's next change that may
// make it reachable (a connection established, a subscription added).
func (sl *slot) changed() <-chan struct{} {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.wake == nil {
		sl.wake = make(chan struct{})
	}
	return sl.wake
}

// signal wakes everyone waiting on changed.
func (sl *slot) signal() {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.wake != nil {
		close(sl.wake)
		sl.wake = nil
	}
}

func (b *Broker) lookupSlot(key string) *slot {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.slots[key]
}

func (b *Broker) slotFor(key string) *slot {
	b.mu.Lock()
	defer b.mu.Unlock()
	sl := b.slots[key]
	if sl == nil {
		sl = &slot{pending: map[*session]struct{}{}}
		b.slots[key] = sl
	}
	return sl
}

// generation is read before authenticating; Disconnect bumps it, so an
// authentication that straddles a Disconnect (device disabled meanwhile) is
// refused by admit.
func (b *Broker) generation(key string) uint64 {
	sl := b.lookupSlot(key)
	if sl == nil {
		return 0
	}
	sl.mu.Lock()
	defer sl.mu.Unlock()
	return sl.gen
}

// current is the identity's live session, or nil.
func (b *Broker) current(key string) *session {
	if sl := b.lookupSlot(key); sl != nil {
		return sl.cur.Load()
	}
	return nil
}

// admit records an authenticated session before its CONNACK.
func (b *Broker) admit(s *session, gen uint64) bool {
	sl := b.slotFor(s.key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.gen != gen {
		return false
	}
	s.state = statePending
	sl.pending[s] = struct{}{}
	return true
}

// establish makes s the identity's current connection. It runs just before
// mochi takes over any previous session and sends the CONNACK, so the
// identity is connected by the time the device learns it is, and the
// replaced connection's end is never mistaken for the identity's.
func (b *Broker) establish(s *session) {
	sl := b.slotFor(s.key)
	sl.hubMu.Lock()
	defer sl.hubMu.Unlock()
	sl.mu.Lock()
	if s.state != statePending || s.cl.Closed() { // closed by Disconnect meanwhile: finish settles it
		sl.mu.Unlock()
		return
	}
	delete(sl.pending, s)
	s.state = stateLive
	s.since = b.now()
	s.replaced = sl.cur.Swap(s)
	if s.replaced == nil {
		b.live.Add(1)
	}
	sl.mu.Unlock()

	ctx, cancel := b.hubContext()
	b.hub.Connected(ctx, s.id, s.modelID)
	cancel()
	sl.hubConnected = true

	if !s.id.ExpiresAt.IsZero() {
		s.timer = time.AfterFunc(s.id.ExpiresAt.Sub(b.now()), func() {
			s.log.Info("closing mqtt connection: SAS token expired")
			s.close(errTokenExpired)
		})
	}
}

// started runs once the CONNACK is out and the session (inherited
// subscriptions included) is settled.
func (b *Broker) started(s *session) {
	if prev := s.replaced; prev != nil && !prev.cl.Closed() {
		// mochi closes the session it takes over; this one was not yet
		// known to mochi (two connects racing each other). Closing it any
		// earlier would race mochi's own cleanup of that session.
		prev.close(errTakenOver)
	}
	b.wg.Add(1) // the connection's own count is held, so this cannot race Close's Wait
	go func() {
		defer b.wg.Done()
		s.writeLoop()
	}()
	s.log.Info("mqtt connected", "model_id", s.modelID, "took_over", s.replaced != nil)
	// Subscriptions inherited from a clean-session=0 session count as made now.
	b.slotFor(s.key).signal()
	b.c2dReady(s)
}

// subscribed runs after an allowed SUBSCRIBE was answered.
func (b *Broker) subscribed(s *session, filters []packets.Subscription) {
	b.slotFor(s.key).signal()
	if s.id.ModuleID != "" {
		return
	}
	for _, sub := range filters {
		if sub.Filter == c2dFilter(s.id.DeviceID) {
			b.c2dReady(s)
			return
		}
	}
}

// finish settles a connection after mochi has ended it. The hub is told
// Disconnected only when no connection of the identity is live or on its way.
func (b *Broker) finish(tc *trackedConn, reason error) {
	s := tc.sess.Load()
	if s == nil {
		return // never authenticated
	}
	if s.timer != nil {
		s.timer.Stop()
	}
	close(s.done) // ends method calls waiting on this connection
	if n := s.c2d.close(); n > 0 {
		s.log.Debug("cloud-to-device messages unacknowledged at disconnect", "count", n)
	}

	sl := b.slotFor(s.key)
	sl.hubMu.Lock()
	defer sl.hubMu.Unlock()
	sl.mu.Lock()
	wasCurrent := false
	switch s.state {
	case statePending:
		delete(sl.pending, s)
	case stateLive:
		if sl.cur.CompareAndSwap(s, nil) {
			wasCurrent = true
			b.live.Add(-1)
		}
	}
	s.state = stateDone
	idle := sl.cur.Load() == nil && len(sl.pending) == 0
	sl.mu.Unlock()

	if idle && sl.hubConnected {
		// Even while the broker closes: the hub should still record it.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(b.ctx), hubTimeout)
		b.hub.Disconnected(ctx, s.id)
		cancel()
		sl.hubConnected = false
	}
	if cause := s.cl.StopCause(); cause != nil {
		reason = cause
	}
	s.log.Info("mqtt disconnected", "reason", reasonText(reason), "was_current", wasCurrent)
}

// revoke bumps the identity's generation and returns its live and pending
// sessions, for Disconnect to close.
func (b *Broker) revoke(key string) []*session {
	sl := b.slotFor(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	sl.gen++
	var out []*session
	if s := sl.cur.Load(); s != nil {
		out = append(out, s)
	}
	for s := range sl.pending {
		out = append(out, s)
	}
	return out
}

func reasonText(err error) string {
	if err == nil {
		return "client disconnected"
	}
	return err.Error()
}
