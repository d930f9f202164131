package devicelink

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/c2d"
	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// fakeHead holds the identities it is given and records every call.
type fakeHead struct {
	name string
	held map[string]bool

	mu    sync.Mutex
	calls []string
}

func newHead(name string, held ...string) *fakeHead {
	h := &fakeHead{name: name, held: map[string]bool{}}
	for _, k := range held {
		h.held[k] = true
	}
	return h
}

func key(d, m string) string {
	if m == "" {
		return d
	}
	return d + "/" + m
}

func (h *fakeHead) record(call string) {
	h.mu.Lock()
	h.calls = append(h.calls, call)
	h.mu.Unlock()
}

func (h *fakeHead) got() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.calls)
}

func (h *fakeHead) Holds(d, m string) bool { return h.held[key(d, m)] }
func (h *fakeHead) NotifyDesired(d, m string, v int64, _ []byte) {
	h.record("desired " + key(d, m))
}
func (h *fakeHead) InvokeMethod(_ context.Context, d, m, name string, _ []byte, _, _ time.Duration) (int, []byte, error) {
	h.record("method " + key(d, m) + " " + name)
	return 200, []byte(`"` + h.name + `"`), nil
}
func (h *fakeHead) DeliverC2D(d string, _ c2d.Message, _ func()) error {
	h.record("c2d " + d)
	return nil
}
func (h *fakeHead) Disconnect(d, m string) { h.record("disconnect " + key(d, m)) }
func (h *fakeHead) Forget(d, m string)     { h.record("forget " + key(d, m)) }
func (h *fakeHead) Clients() []ClientInfo {
	var out []ClientInfo
	for k := range h.held {
		d, m, _ := strings.Cut(k, "/")
		out = append(out, ClientInfo{DeviceID: d, ModuleID: m, Listener: h.name})
	}
	return out
}

func TestRouterWithNoHead(t *testing.T) {
	r := NewRouter()
	r.DesiredChanged("d1", "", 2, []byte(`{}`))
	r.Disconnect("d1", "")
	r.Forget("d1", "")
	if _, _, err := r.InvokeMethod(context.Background(), "d1", "", "m", nil, 0, time.Second); !errcode.Is(err, errcode.DeviceNotOnline) {
		t.Errorf("method with no head: %v, want DeviceNotOnline", err)
	}
	if err := r.Deliver("d1", c2d.Message{}, func() {}); !errors.Is(err, ErrNotConnected) {
		t.Errorf("deliver with no head: %v, want ErrNotConnected", err)
	}
	if got := r.Clients(); got == nil || len(got) != 0 {
		t.Errorf("clients %#v, want an empty, non-nil list", got)
	}
}

func TestRouterRoutesToTheHolder(t *testing.T) {
	mqtt := newHead("mqtt", "d1", "d2/m1")
	amqp := newHead("amqp", "d3")
	r := NewRouter()
	r.Add(mqtt)
	r.Add(amqp)
	ctx := context.Background()

	r.DesiredChanged("d3", "", 4, nil)
	r.DesiredChanged("d2", "m1", 5, nil)
	r.DesiredChanged("offline", "", 6, nil)
	for _, tc := range []struct {
		device, module, wantHead string
	}{
		{"d3", "", "amqp"},
		{"d2", "m1", "mqtt"},
		{"offline", "", "mqtt"}, // the first head waits out the connect timeout
	} {
		_, body, err := r.InvokeMethod(ctx, tc.device, tc.module, "reboot", nil, time.Second, time.Second)
		if err != nil || string(body) != `"`+tc.wantHead+`"` {
			t.Errorf("method on %s: %s, %v; want head %s", key(tc.device, tc.module), body, err, tc.wantHead)
		}
	}
	if err := r.Deliver("d3", c2d.Message{}, func() {}); err != nil {
		t.Errorf("deliver to d3: %v", err)
	}
	if err := r.Deliver("offline", c2d.Message{}, func() {}); !errors.Is(err, ErrNotConnected) {
		t.Errorf("deliver to an offline device: %v", err)
	}
	r.Forget("d1", "")

	if want := []string{"desired d2/m1", "method d2/m1 reboot", "method offline reboot", "forget d1"}; !slices.Equal(mqtt.got(), want) {
		t.Errorf("mqtt head got %q, want %q", mqtt.got(), want)
	}
	if want := []string{"desired d3", "method d3 reboot", "c2d d3", "forget d1"}; !slices.Equal(amqp.got(), want) {
		t.Errorf("amqp head got %q, want %q", amqp.got(), want)
	}
	var ids []string
	for _, c := range r.Clients() {
		ids = append(ids, key(c.DeviceID, c.ModuleID)+"@"+c.Listener)
	}
	if want := []string{"d1@mqtt", "d2/m1@mqtt", "d3@amqp"}; !slices.Equal(ids, want) {
		t.Errorf("clients %q, want %q", ids, want)
	}
}
