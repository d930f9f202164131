package mqttbroker

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
)

// remove deletes an identity, as the registry does before the hub calls
// Forget.
func (h *fakeHub) remove(key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.identities, key)
}

// retained is what the broker keeps for identities: mochi's sessions and
// subscriptions, the broker's slots and connections.
type retained struct {
	Sessions, Subscriptions, Slots, Conns int
}

func retainedState(b *Broker) retained {
	b.mu.Lock()
	slots, conns := len(b.slots), len(b.conns)
	b.mu.Unlock()
	return retained{
		Sessions:      b.server.Clients.Len(),
		Subscriptions: int(atomic.LoadInt64(&b.server.Info.Subscriptions)),
		Slots:         slots,
		Conns:         conns,
	}
}

// deviceFilters are the subscriptions an SDK device makes.
func deviceFilters(deviceID string) []string {
	return []string{filterTwinResponses, filterDesired, filterMethods, c2dFilter(deviceID)}
}

// churnDevice connects as an SDK does (clean session as given), subscribes
// to what a device subscribes to and disconnects. It keeps nothing behind on
// the client side, so the heap afterwards is the broker's.
func churnDevice(addr, clientID string, key []byte, clean bool) error {
	conn, err := net.DialTimeout("tcp", addr, waitFor)
	if err != nil {
		return err
	}
	deviceID, _, _ := parseClientID(clientID)
	filters := append([]string(nil), deviceFilters(deviceID)[:3]...)
	if deviceID == clientID {
		filters = append(filters, c2dFilter(deviceID))
	}
	return testkit.MQTTSession(conn, clientID, deviceUsername(clientID), sasToken(testHost, clientID, key, hourAhead()), clean, filters)
}

// settled waits until the broker has finished with every connection.
func settled(t testing.TB, b *Broker) {
	t.Helper()
	testkit.Eventually(t, "connections settled", func() bool { return servedConns(b) == 0 && b.ConnectedCount() == 0 })
}

// A deleted identity's session goes with it: at once when offline, as its
// connection ends otherwise; and a new identity of the same id starts
// afresh.
func TestForgetDropsTheSession(t *testing.T) {
	tests := []struct {
		name      string
		clientID  string
		connected bool // still connected when forgotten
	}{
		{"offline device", "dev1", false},
		{"connected device", "dev1", true},
		{"offline module", "dev1/mod1", false},
		{"connected module", "dev1/mod1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hub := newFakeHub()
			key := hub.add(tt.clientID)
			b, addr := startBroker(t, hub)
			c := mustDial(t, addr, deviceConfig(tt.clientID, key))
			c.subscribe(t, filterDesired, 1)
			c.subscribe(t, filterMethods, 1)
			if !tt.connected {
				c.Disconnect(0)
				settled(t, b)
				if got := retainedState(b); got != (retained{Sessions: 1, Subscriptions: 2}) {
					t.Fatalf("offline clean-session=0 identity: %+v, want its session kept", got)
				}
			}

			hub.remove(tt.clientID)
			deviceID, moduleID, _ := parseClientID(tt.clientID)
			b.Forget(deviceID, moduleID)
			if tt.connected {
				c.waitLost(t)
				settled(t, b)
			}
			if got := retainedState(b); got != (retained{}) {
				t.Fatalf("after Forget: %+v, want nothing", got)
			}

			// Registered again: no session to resume.
			key = hub.add(tt.clientID)
			again, tok := dial(t, addr, deviceConfig(tt.clientID, key))
			if tok.Error() != nil || tok.SessionPresent() {
				t.Fatalf("reconnect: %v, session present %v", tok.Error(), tok.SessionPresent())
			}
			if again.subscribe(t, filterMethods, 1) != 1 {
				t.Fatal("subscribe after re-registration refused")
			}
		})
	}
}

// Forget is cheap for an identity the broker never saw, and leaves nothing.
func TestForgetUnknownIdentity(t *testing.T) {
	b, _ := startBroker(t, newFakeHub())
	b.Forget("never", "")
	b.Disconnect("never", "seen")
	if got := retainedState(b); got != (retained{}) {
		t.Fatalf("%+v, want nothing", got)
	}
}

// A disconnected clean-session=0 session is kept for SessionExpiry, so an
// SDK that does not subscribe again (Node) keeps working across a drop,
// and dropped after it.
func TestSessionExpiry(t *testing.T) {
	const expiry = 10 * time.Minute
	clock := testkit.NewClockAt(time.Now())
	hub := newFakeHub()
	key := hub.add("dev1")
	b, addr := startBrokerWith(t, hub, Options{Logger: testLogger(), Now: clock.Now, SessionExpiry: expiry})

	c := mustDial(t, addr, deviceConfig("dev1", key))
	c.subscribe(t, filterMethods, 1)
	c.Disconnect(0)
	settled(t, b)

	// A short drop: the sweep keeps the session, the device resumes it.
	clock.Advance(expiry - time.Second)
	if n := b.expireSessions(clock.Now()); n != 0 {
		t.Fatalf("%d sessions expired before their time", n)
	}
	c, tok := dial(t, addr, deviceConfig("dev1", key))
	if tok.Error() != nil || !tok.SessionPresent() {
		t.Fatalf("resume: %v, session present %v", tok.Error(), tok.SessionPresent())
	}
	call := invokeAsync(t.Context(), b, "dev1", "", "ping", "{}", 0, waitFor)
	respond(t, c, 200, nextRequest(t, c).rid, "{}") // reached without subscribing again
	if r := awaitCall(t, call); r.err != nil {
		t.Fatalf("method after resume: %v", r.err)
	}

	// A live session never expires, however long it lives.
	clock.Advance(2 * expiry)
	if n := b.expireSessions(clock.Now()); n != 0 || !b.IsConnected("dev1", "") {
		t.Fatalf("expired a live session (%d)", n)
	}

	c.Disconnect(0)
	settled(t, b)
	clock.Advance(expiry - time.Nanosecond)
	if n := b.expireSessions(clock.Now()); n != 0 {
		t.Fatalf("%d sessions expired before their time", n)
	}
	clock.Advance(time.Nanosecond)
	if n := b.expireSessions(clock.Now()); n != 1 {
		t.Fatalf("expired %d sessions, want 1", n)
	}
	if got := retainedState(b); got != (retained{}) {
		t.Fatalf("after expiry: %+v, want nothing", got)
	}
	_, tok = dial(t, addr, deviceConfig("dev1", key))
	if tok.Error() != nil || tok.SessionPresent() {
		t.Fatalf("after expiry: %v, session present %v", tok.Error(), tok.SessionPresent())
	}
}

// The broker sweeps expired sessions on its own.
func TestSessionExpirySweeps(t *testing.T) {
	hub := newFakeHub()
	key := hub.add("dev1")
	b, addr := startBrokerWith(t, hub, Options{Logger: testLogger(), SessionExpiry: 50 * time.Millisecond})
	c := mustDial(t, addr, deviceConfig("dev1", key))
	c.subscribe(t, filterMethods, 1)
	c.Disconnect(0)
	testkit.Eventually(t, "session expired", func() bool { return retainedState(b) == retained{} })
}

func TestSessionExpiryOption(t *testing.T) {
	if _, err := New(newFakeHub(), Options{SessionExpiry: -time.Second}); err == nil {
		t.Fatal("negative session expiry accepted")
	}
	b, err := New(newFakeHub(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.sessionExpiry != DefaultSessionExpiry {
		t.Fatalf("default expiry %v, want %v", b.sessionExpiry, DefaultSessionExpiry)
	}
	if got := expirySweepInterval(DefaultSessionExpiry); got != time.Minute {
		t.Fatalf("sweep every %v for the default expiry", got)
	}
}

// gc collects twice: sync.Pool contents survive one collection.
func gc() {
	runtime.GC()
	runtime.GC()
}

// waitBriefly is testkit.Eventually for what takes microseconds, polled
// accordingly; still bounded by testkit.Wait.
func waitBriefly(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(testkit.Wait); !cond(); time.Sleep(50 * time.Microsecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true within %v", what, testkit.Wait)
		}
	}
}

// eventlessHub is a fakeHub that keeps no record of connections, which
// would otherwise be most of what a churn leaves on the heap.
type eventlessHub struct{ *fakeHub }

func (eventlessHub) Connected(context.Context, Identity, string) {}
func (eventlessHub) Disconnected(context.Context, Identity)      {}

// churnDevices is how many devices the churn test cycles: enough that a
// leak of a few hundred bytes each shows, few enough for -race on 2 cores.
func churnDevices() int {
	if raceEnabled {
		return 500
	}
	return 2000
}

// Devices that connect with clean session 0 (as every SDK does), disconnect
// and are deleted leave nothing in the broker; with clean session 1 the
// same. The heap each device leaves is logged for comparison.
func TestSessionChurnLeavesNothing(t *testing.T) {
	for _, clean := range []bool{false, true} {
		t.Run(fmt.Sprintf("clean=%v", clean), func(t *testing.T) {
			perDevice := churn(t, churnDevices(), clean)
			t.Logf("clean session %v: %.0f heap bytes left per device", clean, perDevice)
		})
	}
}

func BenchmarkSessionChurn(b *testing.B) {
	for _, clean := range []bool{false, true} {
		b.Run(fmt.Sprintf("clean=%v", clean), func(b *testing.B) {
			b.ReportMetric(churn(b, b.N, clean), "heap-B/device")
		})
	}
}

// churn cycles n devices (each device and one module of it) through
// connect, subscribe, disconnect and deletion, checks that the broker keeps
// nothing for them, and returns the heap left per device.
func churn(t testing.TB, n int, clean bool) float64 {
	hub := newFakeHub()
	b, addr := startBrokerWith(t, eventlessHub{hub}, Options{Logger: testLogger()})
	var before, after runtime.MemStats
	gc()
	runtime.ReadMemStats(&before)
	for i := range n {
		deviceID := fmt.Sprintf("churn-%05d", i)
		for _, id := range []string{deviceID, deviceID + "/mod"} {
			if err := churnDevice(addr, id, hub.add(id), clean); err != nil {
				t.Fatal(err)
			}
		}
		// The hub deletes the device with its modules, then tells the broker.
		waitBriefly(t, "disconnected", func() bool {
			return !b.IsConnected(deviceID, "") && !b.IsConnected(deviceID, "mod")
		})
		hub.remove(deviceID)
		hub.remove(deviceID + "/mod")
		b.Forget(deviceID, "mod")
		b.Forget(deviceID, "")
	}
	settled(t, b)
	if got := retainedState(b); got != (retained{}) {
		t.Fatalf("after %d devices came and went: %+v, want nothing", n, got)
	}
	if subs := b.server.Topics.Subscribers("$iothub/twin/res/200/"); len(subs.Subscriptions) != 0 {
		t.Fatalf("topic index still holds %d subscribers", len(subs.Subscriptions))
	}
	gc()
	runtime.ReadMemStats(&after)
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
}

// Connects, drops, Disconnect, Forget and method calls racing on one
// identity: slots are shared and let go correctly (the race detector and
// the hub's view check it), and once all is over nothing is left.
func TestSlotsUnderConcurrency(t *testing.T) {
	hub := newFakeHub()
	key := hub.add("dev1")
	b, addr := startBroker(t, hub)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // the hub, disconnecting and forgetting meanwhile
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
			if i%2 == 0 {
				b.Disconnect("dev1", "")
			} else {
				b.Forget("dev1", "")
			}
		}
	})
	wg.Go(func() { // a service calling a method
		for {
			select {
			case <-done:
				return
			default:
			}
			_, _, _ = b.InvokeMethod(t.Context(), "dev1", "", "m", []byte("{}"), 5*time.Millisecond, 5*time.Millisecond)
		}
	})
	for range 100 { // the device, reconnecting; refused or cut off at times
		_ = churnDevice(addr, "dev1", key, false)
	}
	close(done)
	wg.Wait()

	settled(t, b)
	b.Forget("dev1", "")
	if got := retainedState(b); got != (retained{}) {
		t.Fatalf("left behind: %+v", got)
	}
	// The hub saw a consistent story: never two disconnects in a row, and
	// it ends disconnected.
	events := hub.Events()
	last := "disconnected"
	for _, ev := range events {
		if ev.Kind == "disconnected" && last == "disconnected" {
			t.Fatalf("two disconnects in a row: %v", events)
		}
		last = ev.Kind
	}
	if last != "disconnected" {
		t.Fatalf("hub left thinking the device is connected: %v", events)
	}
}
