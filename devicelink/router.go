// Package devicelink carries the hub's traffic to device connections:
// desired-property notifications, direct-method calls, cloud-to-device
// deliveries and disconnects. The hub and the cloud-to-device queues are
// built with a Router as their way to reach devices; each protocol head that
// holds device connections (the MQTT broker, the AMQP server) is added to the Router
// once it is built. That one registration breaks the construction cycle
// between the hub (which the heads call) and the heads (which the hub
// calls), so no package is ever half wired: a Router with no head answers
// "not connected", exactly as a hub with no device online.
package devicelink

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/iothub-emulator/iothub-emulator/c2d"
	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// Head is a protocol head holding device connections.
type Head interface {
	// Holds reports whether the identity has a live connection on this head.
	Holds(deviceID, moduleID string) bool
	// NotifyDesired pushes a desired-properties change to the identity's
	// connection, if it has one that asked for them; it does not block.
	NotifyDesired(deviceID, moduleID string, version int64, body []byte)
	// InvokeMethod calls a direct method and waits for the response.
	InvokeMethod(ctx context.Context, deviceID, moduleID, name string, payload []byte, connectTimeout, responseTimeout time.Duration) (status int, body []byte, err error)
	// DeliverC2D hands a queued message to the device now, or fails if it
	// cannot take it (see c2d.Transport).
	DeliverC2D(deviceID string, m c2d.Message, ack func()) error
	// Disconnect closes the identity's connection (disabled, new keys).
	Disconnect(deviceID, moduleID string)
	// Forget closes the identity's connection and drops every session
	// state kept for it: the identity was deleted.
	Forget(deviceID, moduleID string)
	// Clients lists the head's live connections.
	Clients() []ClientInfo
}

// ClientInfo describes one live device connection.
type ClientInfo struct {
	DeviceID      string    `json:"deviceId"`
	ModuleID      string    `json:"moduleId,omitempty"`
	ConnectedAt   time.Time `json:"connectedAt"`
	Listener      string    `json:"listener"` // mqtts, mqtt, wss, ...
	Remote        string    `json:"remoteAddress"`
	Subscriptions []string  `json:"subscriptions"`
}

// Router routes each call to the head holding the identity's connection.
// It is safe for concurrent use.
type Router struct {
	mu    sync.RWMutex
	heads []Head
}

// NewRouter returns a Router with no heads yet.
func NewRouter() *Router { return &Router{} }

// Add registers a head. Heads are added once, while the emulator is built,
// before it serves.
func (r *Router) Add(h Head) {
	r.mu.Lock()
	r.heads = append(r.heads, h)
	r.mu.Unlock()
}

func (r *Router) all() []Head {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.heads
}

// holder is the head with the identity's live connection, else the first
// head (which may still see it connect), else nil.
func (r *Router) holder(deviceID, moduleID string) Head {
	heads := r.all()
	for _, h := range heads {
		if h.Holds(deviceID, moduleID) {
			return h
		}
	}
	if len(heads) > 0 {
		return heads[0]
	}
	return nil
}

// DesiredChanged implements the hub's notifier.
func (r *Router) DesiredChanged(deviceID, moduleID string, version int64, body []byte) {
	for _, h := range r.all() {
		if h.Holds(deviceID, moduleID) {
			h.NotifyDesired(deviceID, moduleID, version, body)
		}
	}
}

// Disconnect closes the identity's connections on every head.
func (r *Router) Disconnect(deviceID, moduleID string) {
	for _, h := range r.all() {
		h.Disconnect(deviceID, moduleID)
	}
}

// Forget drops the identity from every head: connections and sessions.
func (r *Router) Forget(deviceID, moduleID string) {
	for _, h := range r.all() {
		h.Forget(deviceID, moduleID)
	}
}

// InvokeMethod calls the method on the head holding the identity. With no
// connection anywhere it waits, up to the connect timeout, for one to
// appear on any head, which then gets what is left of the timeout to be
// ready for methods; with none by then the first head answers.
func (r *Router) InvokeMethod(ctx context.Context, deviceID, moduleID, name string, payload []byte, connectTimeout, responseTimeout time.Duration) (int, []byte, error) {
	deadline := time.Now().Add(connectTimeout)
	h := r.holding(deviceID, moduleID)
	if h == nil && connectTimeout > 0 {
		tick := time.NewTicker(holdPoll)
		defer tick.Stop()
		for h == nil && time.Now().Before(deadline) {
			select {
			case <-ctx.Done():
				return 0, nil, ctx.Err()
			case <-tick.C:
			}
			h = r.holding(deviceID, moduleID)
		}
	}
	if h == nil {
		if h = r.holder(deviceID, moduleID); h == nil {
			return 0, nil, errNotOnline()
		}
	}
	return h.InvokeMethod(ctx, deviceID, moduleID, name, payload, max(time.Until(deadline), 0), responseTimeout)
}

// holdPoll is how often a method call waiting for its device looks again.
const holdPoll = 50 * time.Millisecond

// holding is the head with the identity's live connection, or nil.
func (r *Router) holding(deviceID, moduleID string) Head {
	for _, h := range r.all() {
		if h.Holds(deviceID, moduleID) {
			return h
		}
	}
	return nil
}

// ErrNotConnected is Deliver's answer when no head holds the device.
var ErrNotConnected = errors.New("devicelink: device not connected")

// Deliver implements c2d.Transport: the first head holding the device that
// can take the message now gets it (a device connected over MQTT and AMQP
// at once may receive on either).
func (r *Router) Deliver(deviceID string, m c2d.Message, ack func()) error {
	err := ErrNotConnected
	for _, h := range r.all() {
		if h.Holds(deviceID, "") {
			if err = h.DeliverC2D(deviceID, m, ack); err == nil {
				return nil
			}
		}
	}
	return err
}

// Clients lists every head's live connections in identity order.
func (r *Router) Clients() []ClientInfo {
	out := []ClientInfo{}
	for _, h := range r.all() {
		out = append(out, h.Clients()...)
	}
	slices.SortStableFunc(out, func(a, b ClientInfo) int {
		return cmp.Or(cmp.Compare(a.DeviceID, b.DeviceID), cmp.Compare(a.ModuleID, b.ModuleID))
	})
	return out
}

func errNotOnline() error {
	return errcode.New(errcode.DeviceNotOnline, "The device is not online.")
}
