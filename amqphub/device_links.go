package amqphub

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/iothub-emulator/iothub-emulator/amqp"
	"github.com/iothub-emulator/iothub-emulator/devicelink"
)

// deviceLinks tracks the live device-side links by identity: what the hub
// reaches through the device link (Holds, methods, C2D, desired
// notifications, Disconnect). An identity is connected while it has a link;
// several connections of one identity are kept, as IoT Hub keeps them for
// AMQP.
type deviceLinks struct {
	// hubMu orders the Connected/Disconnected calls to the hub, so it sees
	// them in the order they happened; mu is never held across hub calls.
	hubMu sync.Mutex

	mu      sync.Mutex
	ids     map[string]*identityLinks
	changed chan struct{} // closed (and replaced) when a link attaches
}

// identityLinks are one identity's links.
type identityLinks struct {
	id       identity
	since    time.Time
	remote   string
	listener string
	modelID  string // announced on a link (com.microsoft:model-id)
	links    map[*amqp.Link]endpoint
	c2d      []*c2dLink
	methods  []*amqp.Sender
	twins    []*twinSender
}

// propModelID is the link property carrying a Plug and Play model id.
const propModelID amqp.Symbol = "com.microsoft:model-id"

func newDeviceLinks() *deviceLinks {
	return &deviceLinks{ids: map[string]*identityLinks{}}
}

// attached records a device-side link until it ends, telling the hub when
// the identity comes and goes.
func (s *Server) attached(l *amqp.Link, id identity, ep endpoint, register func(*identityLinks)) {
	d := s.devs
	d.hubMu.Lock()
	d.mu.Lock()
	il := d.ids[id.key()]
	first := il == nil
	if first {
		il = &identityLinks{id: id, since: s.now().UTC(), links: map[*amqp.Link]endpoint{}}
		if a := l.Conn.RemoteAddr(); a != nil {
			il.remote = a.String()
		}
		il.listener = "amqp"
		if l.Conn.TLS() != nil {
			il.listener = "amqps"
		}
		d.ids[id.key()] = il
	}
	il.links[l] = ep
	if register != nil {
		register(il)
	}
	if d.changed != nil {
		close(d.changed)
		d.changed = nil
	}
	// Plug and Play devices announce their model on their sender links
	// (the Java SDK puts it on each); the first one seen is recorded.
	model, _ := l.Properties[propModelID].(string)
	announce := first || (model != "" && il.modelID == "")
	if model != "" && il.modelID == "" {
		il.modelID = model
	}
	model = il.modelID
	d.mu.Unlock()
	if announce {
		s.hub.SetConnected(s.ctx, id.deviceID, id.moduleID, true, model)
	}
	d.hubMu.Unlock()

	s.goLink(func() {
		s.expireLink(l, id)
		s.detached(l, id)
	})
}

// expireLink returns when the link ends, ending it itself when the
// connection's token for the identity runs out without a renewal on $cbs
// (the SDKs put a fresh one before the old expires).
func (s *Server) expireLink(l *amqp.Link, id identity) {
	for {
		end := s.authorityEnds(l.Conn, id)
		if !end.IsZero() {
			t := time.NewTimer(end.Sub(s.now()))
			select {
			case <-l.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		err := s.authorizeDevice(l.Conn, id)
		if err == nil && end.IsZero() { // the certificate: nothing expires
			<-l.Done()
			return
		}
		if err != nil {
			s.log.Debug("device link ended: its token expired", "device", id.deviceID, "module", id.moduleID, "link", l.Name)
			l.Detach(err)
			<-l.Done()
			return
		}
	}
}

// detached forgets an ended link.
func (s *Server) detached(l *amqp.Link, id identity) {
	d := s.devs
	d.hubMu.Lock()
	defer d.hubMu.Unlock()
	d.mu.Lock()
	il := d.ids[id.key()]
	last := false
	if il != nil {
		delete(il.links, l)
		il.c2d = slices.DeleteFunc(il.c2d, func(c *c2dLink) bool { return c.snd.Link == l })
		il.methods = slices.DeleteFunc(il.methods, func(m *amqp.Sender) bool { return m.Link == l })
		il.twins = slices.DeleteFunc(il.twins, func(t *twinSender) bool { return t.snd.Link == l })
		if len(il.links) == 0 {
			delete(d.ids, id.key())
			last = true
		}
	}
	d.mu.Unlock()
	if last && s.ctx.Err() == nil {
		s.hub.SetConnected(context.WithoutCancel(s.ctx), id.deviceID, id.moduleID, false, "")
	}
}

// lookup runs fn on the identity's links, if it has any, under the lock.
func (d *deviceLinks) lookup(id identity, fn func(*identityLinks)) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	il := d.ids[id.key()]
	if il == nil {
		return false
	}
	fn(il)
	return true
}

// attachedSignal returns a channel closed at the next device-side attach.
func (d *deviceLinks) attachedSignal() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.changed == nil {
		d.changed = make(chan struct{})
	}
	return d.changed
}

// ConnectedCount is the number of identities with a live device-side link.
func (s *Server) ConnectedCount() int {
	s.devs.mu.Lock()
	defer s.devs.mu.Unlock()
	return len(s.devs.ids)
}

// Holds reports whether the identity has a live device-side link.
func (s *Server) Holds(deviceID, moduleID string) bool {
	return s.devs.lookup(identity{deviceID, moduleID}, func(*identityLinks) {})
}

// Disconnect ends the identity's links (its keys changed, or it was
// disabled), as the MQTT broker closes its connection. A connection that
// carries only this identity is closed, so the SDKs see a disconnect; one
// multiplexing other identities loses only this one's links.
func (s *Server) Disconnect(deviceID, moduleID string) {
	id := identity{deviceID, moduleID}
	var links []*amqp.Link
	s.devs.mu.Lock()
	if il := s.devs.ids[id.key()]; il != nil {
		for l := range il.links {
			links = append(links, l)
		}
	}
	others := map[*amqp.ConnInfo]bool{}
	for k, il := range s.devs.ids {
		if k == id.key() {
			continue
		}
		for l := range il.links {
			others[l.Conn] = true
		}
	}
	s.devs.mu.Unlock()
	cause := &amqp.Error{Condition: amqp.CondUnauthorizedAccess, Description: "The identity's credentials or status changed: connect again."}
	closed := map[*amqp.ConnInfo]bool{}
	for _, l := range links {
		switch {
		case closed[l.Conn]:
		case others[l.Conn]:
			l.Detach(cause)
		default:
			closed[l.Conn] = true
			s.log.Info("amqp connection closed by the hub", "device", deviceID, "module", moduleID)
			l.Conn.Close(cause)
		}
	}
}

// Forget ends a deleted identity's links; AMQP keeps no session state.
func (s *Server) Forget(deviceID, moduleID string) { s.Disconnect(deviceID, moduleID) }

// Clients lists the identities with device-side links.
func (s *Server) Clients() []devicelink.ClientInfo {
	s.devs.mu.Lock()
	defer s.devs.mu.Unlock()
	out := []devicelink.ClientInfo{}
	for _, il := range s.devs.ids {
		subs := []string{}
		seen := map[endpoint]bool{}
		for _, ep := range il.links {
			if !seen[ep] {
				seen[ep] = true
				subs = append(subs, ep.String())
			}
		}
		slices.Sort(subs)
		out = append(out, devicelink.ClientInfo{
			DeviceID: il.id.deviceID, ModuleID: il.id.moduleID, ConnectedAt: il.since,
			Listener: il.listener, Remote: il.remote, Subscriptions: subs,
		})
	}
	return out
}

func (ep endpoint) String() string {
	switch ep {
	case endpointEvents:
		return "messages/events"
	case endpointC2D:
		return "messages/devicebound"
	case endpointMethods:
		return "methods/devicebound"
	case endpointTwin:
		return "twin"
	}
	return "unknown"
}
