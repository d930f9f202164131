package mqttbroker

import (
	"context"
	"errors"
	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

func servedConns(b *Broker) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.conns)
}

func TestTakeover(t *testing.T) {
	hub := newFakeHub()
	key := hub.add("dev1")
	b, addr := startBroker(t, hub)

	first := mustDial(t, addr, deviceConfig("dev1", key))
	first.subscribe(t, "$iothub/twin/PATCH/properties/desired/#", 1)
	second := mustDial(t, addr, deviceConfig("dev1", key))

	first.waitLost(t)
	testkit.EventuallyWithin(t, waitFor, "first connection settled", func() bool { return servedConns(b) == 1 })
	if !b.IsConnected("dev1", "") || b.ConnectedCount() != 1 {
		t.Fatalf("after takeover: IsConnected = %v, ConnectedCount = %d", b.IsConnected("dev1", ""), b.ConnectedCount())
	}
	want := []hubEvent{{Kind: "connected", Key: "dev1"}, {Kind: "connected", Key: "dev1"}}
	if got := hub.Events(); !slices.Equal(got, want) {
		t.Fatalf("hub events = %v, want %v (no late disconnect)", got, want)
	}

	// The new connection inherited the desired subscription.
	version, body := hub.setDesired("dev1", "k", "v")
	b.NotifyDesired("dev1", "", version, body)
	if m := second.next(t, "$iothub/twin/PATCH/properties/desired/"); m.Topic() != desiredTopic(version) {
		t.Fatalf("topic = %q", m.Topic())
	}
	second.subscribe(t, filterTwinResponses, 1) // for stillUp
	second.stillUp(t)

	second.Disconnect(0)
	testkit.EventuallyWithin(t, waitFor, "hub told disconnected", func() bool {
		return slices.Equal(hub.Events(), append(want, hubEvent{Kind: "disconnected", Key: "dev1"}))
	})
}

func TestSessionAcrossReconnects(t *testing.T) {
	tests := []struct {
		name                 string
		firstClean, twoClean bool
		wantKept             bool
	}{
		{"clean session 0 keeps subscriptions", false, false, true},
		{"clean session 1 drops them", true, false, false},
		{"reconnecting with clean session 1 drops them", false, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hub := newFakeHub()
			key := hub.add("dev1")
			b, addr := startBroker(t, hub)

			cfg := deviceConfig("dev1", key)
			cfg.clean = tt.firstClean
			first := mustDial(t, addr, cfg)
			first.subscribe(t, "$iothub/twin/PATCH/properties/desired/#", 1)
			first.subscribe(t, "$iothub/twin/res/#", 1)
			first.Disconnect(0)
			testkit.EventuallyWithin(t, waitFor, "first connection settled", func() bool { return servedConns(b) == 0 })

			cfg.clean = tt.twoClean
			second, tok := dial(t, addr, cfg)
			if tok.Error() != nil {
				t.Fatal(tok.Error())
			}
			if tok.SessionPresent() != tt.wantKept {
				t.Errorf("session present = %v, want %v", tok.SessionPresent(), tt.wantKept)
			}
			// No re-subscribe, as the Python and Node SDKs do.
			version, body := hub.setDesired("dev1", "k", "v")
			b.NotifyDesired("dev1", "", version, body)
			second.publish(t, "$iothub/twin/GET/?$rid=1", 1, " ")
			if tt.wantKept {
				// The notification is queued, the response written at once:
				// either may come first.
				second.nextEach(t, "$iothub/twin/PATCH/properties/desired/", "$iothub/twin/res/200/")
			} else {
				second.quietByMethod(t, b) // neither twin subscription was kept
			}
		})
	}
}

func TestTokenExpiryClosesConnection(t *testing.T) {
	hub := newFakeHub()
	key := hub.add("dev1")
	b, addr := startBroker(t, hub)
	expires := time.Now().Add(400 * time.Millisecond)
	hub.update("dev1", func(id *fakeIdentity) { id.expiresAt = expires })

	c := mustDial(t, addr, deviceConfig("dev1", key))
	c.waitLost(t)
	if now := time.Now(); now.Before(expires) {
		t.Fatalf("closed %v before the token expired", expires.Sub(now))
	}
	testkit.EventuallyWithin(t, waitFor, "hub told disconnected", func() bool {
		ev := hub.Events()
		return len(ev) == 2 && ev[1] == hubEvent{Kind: "disconnected", Key: "dev1"}
	})
	if b.IsConnected("dev1", "") {
		t.Error("still connected")
	}
}

func TestDisconnectByHub(t *testing.T) {
	hub := newFakeHub()
	devKey, modKey := hub.add("dev1"), hub.add("dev1/mod1")
	b, addr := startBroker(t, hub)
	dev := mustDial(t, addr, deviceConfig("dev1", devKey))
	dev.subscribe(t, filterTwinResponses, 1) // for stillUp
	mod := mustDial(t, addr, deviceConfig("dev1/mod1", modKey))

	b.Disconnect("dev1", "mod1")
	mod.waitLost(t)
	testkit.EventuallyWithin(t, waitFor, "module disconnected", func() bool { return !b.IsConnected("dev1", "mod1") })
	dev.stillUp(t)
	if !b.IsConnected("dev1", "") || b.ConnectedCount() != 1 {
		t.Fatalf("device: IsConnected = %v, ConnectedCount = %d", b.IsConnected("dev1", ""), b.ConnectedCount())
	}

	b.Disconnect("dev1", "")
	dev.waitLost(t)
	testkit.EventuallyWithin(t, waitFor, "device disconnected", func() bool { return b.ConnectedCount() == 0 })

	b.Disconnect("nobody", "") // no connection: nothing to do
	// The identity may connect again afterwards.
	again := mustDial(t, addr, deviceConfig("dev1", devKey))
	again.subscribe(t, filterTwinResponses, 1)
	again.stillUp(t)
}

func TestNotifyDesiredOnlyWhenConnectedAndSubscribed(t *testing.T) {
	hub := newFakeHub()
	key := hub.add("dev1")
	b, addr := startBroker(t, hub)

	b.NotifyDesired("dev1", "", 2, []byte(`{"$version":2}`)) // offline: dropped, not queued
	c := mustDial(t, addr, deviceConfig("dev1", key))
	c.subscribe(t, "$iothub/twin/res/#", 1)
	b.NotifyDesired("dev1", "", 3, []byte(`{"$version":3}`)) // not subscribed
	c.quietByMethod(t, b)

	c.subscribe(t, "$iothub/twin/PATCH/properties/desired/#", 0)
	body := []byte(`{"a":1,"$version":4}`)
	b.NotifyDesired("dev1", "", 4, body)
	body[2] = 'X' // the broker must have copied it
	m := c.next(t, "$iothub/twin/PATCH/properties/desired/")
	if m.Topic() != desiredTopic(4) || string(m.Payload()) != `{"a":1,"$version":4}` {
		t.Fatalf("got %q %s", m.Topic(), m.Payload())
	}
	c.quietPushes(t, b) // versions 2 and 3 never arrive
}

func TestStuckConnectionIsClosed(t *testing.T) {
	hub := newFakeHub()
	b, err := New(hub, Options{Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	server, client := net.Pipe()
	t.Cleanup(func() { _ = server.Close(); _ = client.Close() })
	cl := b.server.NewClient(server, "test", "dev1", false)
	s := newSession(Identity{DeviceID: "dev1"}, "", cl, &slot{key: "dev1"}, testLogger())

	// No writer runs: the queue fills, then the connection is dropped.
	for i := range sessionQueue {
		if !s.push(outbound{topic: "t"}) {
			t.Fatalf("push %d refused with room in the queue", i)
		}
	}
	if cl.Closed() {
		t.Fatal("closed before the queue was full")
	}
	if s.push(outbound{topic: "t"}) {
		t.Fatal("push accepted into a full queue")
	}
	if !cl.Closed() || !errors.Is(cl.StopCause(), errSlowConsumer) {
		t.Fatalf("closed = %v, cause = %v", cl.Closed(), cl.StopCause())
	}
}

func TestClose(t *testing.T) {
	hub := newFakeHub()
	key1, key2 := hub.add("dev1"), hub.add("dev2")
	b, addr := startBroker(t, hub)
	c1 := mustDial(t, addr, deviceConfig("dev1", key1))
	c2 := mustDial(t, addr, deviceConfig("dev2", key2))

	// A connection that never sends CONNECT is closed too.
	idle, err := net.DialTimeout("tcp", addr, waitFor)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	testkit.EventuallyWithin(t, waitFor, "idle connection accepted", func() bool { return servedConns(b) == 3 })

	done := make(chan error, 1)
	go func() { done <- b.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(waitFor):
		t.Fatal("Close did not return")
	}
	c1.waitLost(t)
	c2.waitLost(t)
	_ = idle.SetReadDeadline(time.Now().Add(waitFor))
	if _, err := idle.Read(make([]byte, 1)); err == nil {
		t.Error("idle connection still open")
	}
	if n := b.ConnectedCount(); n != 0 || servedConns(b) != 0 {
		t.Errorf("after Close: ConnectedCount = %d, served = %d", n, servedConns(b))
	}
	ev := hub.Events()
	if len(ev) != 4 || ev[2].Kind != "disconnected" || ev[3].Kind != "disconnected" {
		t.Errorf("hub events = %v, want both identities disconnected", ev)
	}

	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Error("listener still accepting after Close")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := b.Serve("late", ln); !errors.Is(err, ErrClosed) {
		t.Errorf("Serve after Close = %v, want ErrClosed", err)
	}
	server, client := net.Pipe()
	defer client.Close()
	if err := b.ServeConn("late", server); !errors.Is(err, ErrClosed) {
		t.Errorf("ServeConn after Close = %v, want ErrClosed", err)
	}
}

func TestServeConn(t *testing.T) {
	hub := newFakeHub()
	key := hub.add("dev1")
	b, err := New(hub, Options{Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })

	server, client := net.Pipe()
	done := make(chan error, 1)
	go func() { done <- b.ServeConn("websocket", server) }()

	c := newRawClient(t, client)
	c.connectDevice("dev1", key)
	if !b.IsConnected("dev1", "") {
		t.Fatal("not connected after CONNACK")
	}
	c.subscribe(1, "$iothub/twin/res/#")
	c.mustRead(packets.Suback)
	c.publish("$iothub/twin/GET/?$rid=9", 1, 5, " ")
	if ack := c.mustRead(packets.Puback); ack.PacketID != 5 {
		t.Fatalf("PUBACK id %d", ack.PacketID)
	}
	if res := c.mustRead(packets.Publish); res.TopicName != "$iothub/twin/res/200/?$rid=9" {
		t.Fatalf("response topic %q", res.TopicName)
	}
	c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}})
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("ServeConn after DISCONNECT = %v, want nil", err)
		}
	case <-time.After(waitFor):
		t.Fatal("ServeConn did not return after DISCONNECT")
	}
	testkit.EventuallyWithin(t, waitFor, "disconnected", func() bool { return !b.IsConnected("dev1", "") })
}

// The push queue keeps order, refuses past sessionQueue, and wakes every
// caller waiting for room as a writer drains it.
func TestOutQueue(t *testing.T) {
	s := &session{out: newOutQueue(), done: make(chan struct{})}
	q := &s.out
	for i := range sessionQueue {
		if !q.add(outbound{packetID: uint16(i + 1)}) {
			t.Fatalf("add %d refused with room", i)
		}
	}
	if q.add(outbound{}) {
		t.Fatal("add accepted into a full queue")
	}
	got := q.takeAll(nil)
	if len(got) != sessionQueue || got[0].packetID != 1 || got[sessionQueue-1].packetID != sessionQueue {
		t.Fatalf("took %d items, first %d last %d", len(got), got[0].packetID, got[len(got)-1].packetID)
	}

	// Fill it again; three callers wait for room; a writer drains.
	for range sessionQueue {
		q.add(outbound{})
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	results := make(chan bool, 3)
	for range 3 {
		go func() { results <- s.pushWait(ctx, outbound{topic: "late"}) }()
	}
	time.Sleep(10 * time.Millisecond) // let them find the queue full
	q.takeAll(nil)                    // one drain must let all three in
	for done := 0; done < 3; done++ {
		select {
		case ok := <-results:
			if !ok {
				t.Fatal("a waiting push gave up")
			}
		case <-ctx.Done():
			t.Fatalf("%d of 3 waiting pushes went in after the queue was drained", done)
		}
	}
}
