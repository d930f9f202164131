package mqttbroker

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// slot orders the connections of one identity. IoT Hub keeps one connection
// per identity: a newer one takes over, and the hub must see Connected and
// Disconnected in the order they really happened, never a late Disconnected
// from a connection that was already replaced.
//
// A slot lives only while something holds it (acquireSlot): an
// authentication under way, each of the identity's connections until it has
// ended, a direct-method call waiting for the identity, a Forget or an
// expiry. Then it is dropped, so identities that come and go leave nothing
// behind here. mochi's own session of a clean-session=0 client (its
// subscriptions) outlives the slot until Forget or expiry drops it.
type slot struct {
	key  string
	refs int // holders; guarded by Broker.mu

	// hubMu orders Hub.Connected and Disconnected for the identity and is
	// held across those calls. mu guards the state and is never held across
	// a hub call, so a hub may call back into the broker (Disconnect, say).
	hubMu        sync.Mutex
	hubConnected bool // the hub was last told Connected; guarded by hubMu

	mu        sync.Mutex
	gen       uint64                  // bumped by Disconnect and Forget
	forgotGen uint64                  // gen set by the last Forget; 0: none
	pending   map[*session]struct{}   // authenticated, not yet established
	cur       atomic.Pointer[session] // the live connection; written under mu
	wake      chan struct{}           // closed (and replaced) by signal; see changed
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

// generation is read before authenticating; Disconnect bumps it, so an
// authentication that straddles a Disconnect (device disabled meanwhile) is
// refused by admit. The authentication holds the slot meanwhile, so the
// count cannot be lost with it.
func (sl *slot) generation() uint64 {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	return sl.gen
}

// idle reports whether no connection of the identity is live or on its
// way; the caller holds sl.mu.
func (sl *slot) idle() bool { return sl.cur.Load() == nil && len(sl.pending) == 0 }

// acquireSlot returns the identity's slot, creating it, and holds it until
// releaseSlot.
func (b *Broker) acquireSlot(key string) *slot {
	b.mu.Lock()
	defer b.mu.Unlock()
	sl := b.slots[key]
	if sl == nil {
		sl = &slot{key: key, pending: map[*session]struct{}{}}
		b.slots[key] = sl
	}
	sl.refs++
	return sl
}

// acquireExistingSlot is acquireSlot for an identity that has one, or nil.
func (b *Broker) acquireExistingSlot(key string) *slot {
	b.mu.Lock()
	defer b.mu.Unlock()
	sl := b.slots[key]
	if sl != nil {
		sl.refs++
	}
	return sl
}

// releaseSlot lets go of a slot; the last holder drops it.
func (b *Broker) releaseSlot(sl *slot) {
	b.mu.Lock()
	defer b.mu.Unlock()
	sl.refs--
	if sl.refs == 0 {
		delete(b.slots, sl.key)
	}
}

// current is the identity's live session, or nil.
func (b *Broker) current(key string) *session {
	b.mu.Lock()
	sl := b.slots[key]
	b.mu.Unlock()
	if sl != nil {
		return sl.cur.Load()
	}
	return nil
}

// admit records an authenticated session before its CONNACK. On success the
// session holds its slot (s.slot) until finish.
func (b *Broker) admit(s *session, gen uint64) bool {
	sl := s.slot
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.gen != gen {
		return false
	}
	s.gen = gen
	s.state = statePending
	sl.pending[s] = struct{}{}
	return true
}

// establish makes s the identity's current connection. It runs just before
// mochi takes over any previous session and sends the CONNACK, so the
// identity is connected by the time the device learns it is, and the
// replaced connection's end is never mistaken for the identity's.
func (b *Broker) establish(s *session) {
	sl := s.slot
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
	prev := s.replaced
	s.replaced = nil // not kept: a chain of takeovers would hold every old session
	if prev != nil && !prev.cl.Closed() {
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
	s.log.Info("mqtt connected", "model_id", s.modelID, "took_over", prev != nil)
	// Subscriptions inherited from a clean-session=0 session count as made now.
	s.slot.signal()
	b.c2dReady(s)
}

// subscribed runs after an allowed SUBSCRIBE was answered.
func (b *Broker) subscribed(s *session, filters []packets.Subscription) {
	s.slot.signal()
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
// mochi is done with the connection by now, so a session the identity's
// deletion asked to drop is dropped here.
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

	sl := s.slot
	defer b.releaseSlot(sl)
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
	idle := sl.idle()
	tc.ended.Store(b.now().UnixNano())
	forgotten := idle && sl.forgotGen > s.gen // Forget ran after this connection was admitted
	if forgotten {
		b.dropSessionLocked(sl, nil)
	}
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
	s.log.Info("mqtt disconnected", "reason", reasonText(reason), "was_current", wasCurrent, "session_dropped", forgotten)
	// mochi may keep its client (a clean-session=0 session) and, through
	// its connection, this; what the session holds is not needed any more.
	tc.sess.Store(nil)
}

// revoke bumps the identity's generation and returns its live and pending
// sessions, for Disconnect to close. An identity without a slot has neither,
// and no authentication under way.
func (b *Broker) revoke(key string, forget bool) []*session {
	sl := b.acquireExistingSlot(key)
	if sl == nil {
		return nil
	}
	defer b.releaseSlot(sl)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	sl.gen++
	if forget {
		sl.forgotGen = sl.gen
	}
	var out []*session
	if s := sl.cur.Load(); s != nil {
		out = append(out, s)
	}
	for s := range sl.pending {
		out = append(out, s)
	}
	return out
}

// Forget ends an identity that no longer exists (device or module
// deleted): any connection is closed, as with Disconnect, and mochi's
// session for it (a clean-session=0 client's subscriptions and inflight
// messages) is dropped with the broker's own state, at once if it is offline
// or else as soon as its connection has ended.
func (b *Broker) Forget(deviceID, moduleID string) {
	key := identityKey(deviceID, moduleID)
	sessions := b.revoke(key, true)
	for _, s := range sessions {
		s.log.Info("mqtt connection closed: the identity was deleted")
		s.close(errIdentityDeleted)
	}
	if len(sessions) > 0 {
		return // finish drops the session once mochi is done with it
	}
	sl := b.acquireSlot(key)
	defer b.releaseSlot(sl)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.idle() && b.dropSessionLocked(sl, nil) {
		b.log.Debug("mqtt session dropped: the identity was deleted", "client", key)
	}
}

// dropSessionLocked drops mochi's session of a disconnected identity: its
// subscriptions (from mochi's topic index too), inflight messages and
// client. With cl set, only that client is dropped, not a newer one. The
// caller holds sl.mu and has checked sl.idle(): a connection of the identity
// cannot then be taking the session over, since each is admitted under
// sl.mu before mochi looks for a session to inherit.
func (b *Broker) dropSessionLocked(sl *slot, cl *mqtt.Client) bool {
	cur, ok := b.server.Clients.Get(sl.key)
	if !ok || (cl != nil && cur != cl) || !cur.Closed() {
		return false
	}
	b.server.UnsubscribeClient(cur)
	cur.ClearInflights()
	b.server.Clients.Delete(sl.key)
	return true
}

// expireSessions drops the sessions of clients disconnected for longer than
// the session expiry, as of now, and returns how many it dropped.
//
// mochi's own expiry (Capabilities.MaximumSessionExpiryInterval, which it
// applies to MQTT 3.1.1 clients too) is not used: it leaves an expired
// client's subscriptions in its topic index, and it deletes by client id, so
// a device reconnecting at that moment would lose its new session.
func (b *Broker) expireSessions(now time.Time) int {
	n := 0
	for key, cl := range b.server.Clients.GetAll() {
		tc, ok := cl.Net.Conn.(*trackedConn)
		if !ok || !cl.Closed() {
			continue
		}
		ended := tc.ended.Load() // set once the connection is settled
		if ended == 0 || now.Sub(time.Unix(0, ended)) < b.sessionExpiry {
			continue
		}
		sl := b.acquireSlot(key)
		sl.mu.Lock()
		if sl.idle() && b.dropSessionLocked(sl, cl) {
			n++
		}
		sl.mu.Unlock()
		b.releaseSlot(sl)
	}
	if n > 0 {
		b.log.Debug("mqtt sessions expired", "count", n, "after", b.sessionExpiry)
	}
	return n
}

// expireLoop runs expireSessions until the broker closes.
func (b *Broker) expireLoop(every time.Duration) {
	defer b.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			b.expireSessions(b.now())
		case <-b.ctx.Done():
			return
		}
	}
}

// expirySweepInterval checks often enough that a session outlives its
// expiry by at most a tenth of it (or a minute), and no more often than
// needed.
func expirySweepInterval(expiry time.Duration) time.Duration {
	return min(max(expiry/10, 10*time.Millisecond), time.Minute)
}

func reasonText(err error) string {
	if err == nil {
		return "client disconnected"
	}
	return err.Error()
}
