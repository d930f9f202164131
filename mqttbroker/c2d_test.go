package mqttbroker

import (
	"context"
	"errors"
	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/mochi-mqtt/server/v2/packets"
)

// c2dHub records C2DReady calls.
type c2dHub struct {
	*fakeHub
	ready chan Identity
	seen  int64 // C2DReady calls taken by expectReady
}

func newC2DHub() *c2dHub {
	return &c2dHub{fakeHub: newFakeHub(), ready: make(chan Identity, 16)}
}

func (h *c2dHub) C2DReady(_ context.Context, id Identity) { h.ready <- id }

func (h *c2dHub) expectReady(t *testing.T, key string) {
	t.Helper()
	select {
	case id := <-h.ready:
		h.seen++
		if id.key() != key {
			t.Fatalf("C2DReady for %q, want %q", id.key(), key)
		}
	case <-time.After(waitFor):
		t.Fatalf("no C2DReady for %q within %v", key, waitFor)
	}
}

// expectNoReady asserts that the broker started no C2DReady call beyond
// those expectReady took. The broker decides on a connection's goroutine
// (once established, after each SUBSCRIBE) and then calls the hub from
// another, so each connection that may have caused one is settled first
// with a barrier twin GET (it must be subscribed to $iothub/twin/res/#);
// after that every call decided on has been counted.
func (h *c2dHub) expectNoReady(t *testing.T, b *Broker, settle ...*testClient) {
	t.Helper()
	for _, c := range settle {
		c.stillUp(t)
	}
	if n := b.c2dReadys.Load(); n != h.seen {
		select {
		case id := <-h.ready:
			t.Fatalf("unexpected C2DReady for %q", id.key())
		case <-time.After(waitFor):
			t.Fatalf("%d C2DReady calls started, %d expected", n, h.seen)
		}
	}
}

// ackCounter counts the calls of its ack func.
type ackCounter struct{ n atomic.Int32 }

func (a *ackCounter) ack()       { a.n.Add(1) }
func (a *ackCounter) count() int { return int(a.n.Load()) }

const devicebound = "devices/dev1/messages/devicebound/#"

func TestDeliverC2D(t *testing.T) {
	hub := newC2DHub()
	key := hub.add("dev1")
	b, addr := startBroker(t, hub)
	c := mustDial(t, addr, deviceConfig("dev1", key))
	c.subscribe(t, filterTwinResponses, 1) // for the barriers
	c.subscribe(t, filterDesired, 1)
	c.subscribe(t, devicebound, 1)
	hub.expectReady(t, "dev1")

	tests := []struct {
		name      string
		msg       C2DMessage
		wantTopic string
	}{
		{"no properties: the slash stays", C2DMessage{Body: []byte("hi")}, "devices/dev1/messages/devicebound/"},
		{
			"as the hub sends it",
			C2DMessage{
				SystemProperties: map[string]string{"mid": "m-1", "to": "/devices/dev1/messages/deviceBound", "cid": "c 1", "ct": "application/json", "ce": "utf-8", "exp": "2030-01-02T03:04:05Z"},
				Properties:       map[string]string{"iothub-ack": "full", "propName": "PropValue"},
				Body:             []byte(`{"a":1}`),
			},
			"devices/dev1/messages/devicebound/%24.mid=m-1&%24.cid=c%201&%24.to=%2Fdevices%2Fdev1%2Fmessages%2FdeviceBound&%24.ct=application%2Fjson&%24.ce=utf-8&%24.exp=2030-01-02T03%3A04%3A05Z&iothub-ack=full&propName=PropValue",
		},
		{"empty value and escapes", C2DMessage{Properties: map[string]string{"e": "", "k&=": "a+b/c"}}, "devices/dev1/messages/devicebound/e=&k%26%3D=a%2Bb%2Fc"},
		{"empty body", C2DMessage{SystemProperties: map[string]string{"uid": "u"}}, "devices/dev1/messages/devicebound/%24.uid=u"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var acks ackCounter
			body := append([]byte(nil), tt.msg.Body...)
			if err := b.DeliverC2D("dev1", tt.msg, acks.ack); err != nil {
				t.Fatalf("DeliverC2D: %v", err)
			}
			clear(tt.msg.Body) // the broker must have copied it
			m := c.next(t, "devices/")
			if m.Topic() != tt.wantTopic {
				t.Errorf("topic %q\nwant  %q", m.Topic(), tt.wantTopic)
			}
			if m.Qos() != 1 || string(m.Payload()) != string(body) {
				t.Errorf("QoS %d payload %q, want QoS 1 payload %q", m.Qos(), m.Payload(), body)
			}
			testkit.EventuallyWithin(t, waitFor, "ack after PUBACK", func() bool { return acks.count() > 0 })
			c.quietPushes(t, b) // not delivered twice
			if n := acks.count(); n != 1 {
				t.Fatalf("ack called %d times", n)
			}
		})
	}
}

// Watched packet by packet: the ack fires on the matching PUBACK only, once,
// and the device's own QoS 1 publishes (whose PUBACKs the broker sends with
// the same packet ids) never count as acknowledgements.
func TestC2DAckOnlyOnItsPuback(t *testing.T) {
	hub := newC2DHub()
	key := hub.add("dev1")
	b, addr := startBroker(t, hub)
	c := dialRaw(t, addr)
	c.connectDevice("dev1", key)
	c.subscribe(1, devicebound)
	c.mustRead(packets.Suback)
	hub.expectReady(t, "dev1")

	var first, second ackCounter
	if err := b.DeliverC2D("dev1", C2DMessage{Body: []byte("one")}, first.ack); err != nil {
		t.Fatal(err)
	}
	if err := b.DeliverC2D("dev1", C2DMessage{Body: []byte("two")}, second.ack); err != nil {
		t.Fatal(err)
	}
	p1, p2 := c.mustRead(packets.Publish), c.mustRead(packets.Publish)
	if p1.FixedHeader.Qos != 1 || p2.FixedHeader.Qos != 1 || p1.PacketID == 0 || p1.PacketID == p2.PacketID {
		t.Fatalf("publishes: QoS %d id %d, QoS %d id %d", p1.FixedHeader.Qos, p1.PacketID, p2.FixedHeader.Qos, p2.PacketID)
	}
	if string(p1.Payload) != "one" || string(p2.Payload) != "two" {
		t.Fatalf("payloads %q %q, want in order", p1.Payload, p2.Payload)
	}

	// The device's telemetry with the very same packet ids.
	c.publish("devices/dev1/messages/events/", 1, p1.PacketID, "t1")
	if ack := c.mustRead(packets.Puback); ack.PacketID != p1.PacketID {
		t.Fatalf("telemetry PUBACK id %d", ack.PacketID)
	}
	c.publish("devices/dev1/messages/events/", 1, p2.PacketID, "t2")
	c.mustRead(packets.Puback)
	c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: p2.PacketID + 100}) // unknown id
	c.settle(p2.PacketID + 101)
	if first.count() != 0 || second.count() != 0 {
		t.Fatalf("acks before the device's PUBACKs: %d %d", first.count(), second.count())
	}

	c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: p2.PacketID})
	testkit.EventuallyWithin(t, waitFor, "second acked", func() bool { return second.count() == 1 })
	if first.count() != 0 {
		t.Fatal("first acked by the second's PUBACK")
	}
	c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: p1.PacketID})
	c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: p1.PacketID}) // repeated
	testkit.EventuallyWithin(t, waitFor, "first acked", func() bool { return first.count() == 1 })
	c.settle(p2.PacketID + 102) // the repeated PUBACK has been handled too
	if first.count() != 1 || second.count() != 1 {
		t.Fatalf("acks %d %d, want exactly one each", first.count(), second.count())
	}
}

// Unacknowledged at disconnect: no ack, and a resumed session is not sent the
// message again by the broker (the hub's queue redelivers it).
func TestC2DUnackedAtDisconnect(t *testing.T) {
	hub := newC2DHub()
	key := hub.add("dev1")
	b, addr := startBroker(t, hub)
	cfg := deviceConfig("dev1", key)
	cfg.manualAck = true
	c := mustDial(t, addr, cfg)
	c.subscribe(t, devicebound, 1)
	hub.expectReady(t, "dev1")

	var acks ackCounter
	if err := b.DeliverC2D("dev1", C2DMessage{Body: []byte("x")}, acks.ack); err != nil {
		t.Fatal(err)
	}
	c.next(t, "devices/dev1/messages/devicebound/") // received, never acked
	c.Disconnect(0)
	testkit.EventuallyWithin(t, waitFor, "disconnected", func() bool { return servedConns(b) == 0 })
	if err := b.DeliverC2D("dev1", C2DMessage{}, nil); !errors.Is(err, ErrNotReachable) {
		t.Fatalf("offline: %v, want ErrNotReachable", err)
	}

	// clean-session=0 reconnect: subscription inherited, nothing replayed.
	raw := dialRaw(t, addr)
	raw.connectDevice("dev1", key)
	hub.expectReady(t, "dev1")
	// A replay would be written as the session resumes, ahead of the PUBACK
	// of the first packet the connection sends.
	raw.settle(1)
	if acks.count() != 0 {
		t.Fatalf("ack called %d times for a message never acknowledged", acks.count())
	}

	// The hub redelivers on the new connection; that PUBACK acks it.
	var again ackCounter
	if err := b.DeliverC2D("dev1", C2DMessage{Body: []byte("x")}, again.ack); err != nil {
		t.Fatal(err)
	}
	pk := raw.mustRead(packets.Publish)
	raw.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID})
	testkit.EventuallyWithin(t, waitFor, "redelivery acked", func() bool { return again.count() == 1 })
	if acks.count() != 0 {
		t.Fatal("the first delivery's ack fired")
	}
}

func TestC2DNotReachable(t *testing.T) {
	hub := newC2DHub()
	key, modKey := hub.add("dev1"), hub.add("dev1/mod1")
	b, addr := startBroker(t, hub)

	deliver := func() error {
		return b.DeliverC2D("dev1", C2DMessage{Body: []byte("x")}, func() { t.Error("ack for an undelivered message") })
	}
	if err := deliver(); !errors.Is(err, ErrNotReachable) {
		t.Fatalf("offline: %v", err)
	}
	c := mustDial(t, addr, deviceConfig("dev1", key))
	c.subscribe(t, filterMethods, 1)
	c.subscribe(t, filterTwinResponses, 1)
	c.subscribe(t, filterDesired, 1)
	if err := deliver(); !errors.Is(err, ErrNotReachable) {
		t.Fatalf("not subscribed: %v", err)
	}
	// Modules get no C2D, whatever they subscribe to.
	mod := mustDial(t, addr, deviceConfig("dev1/mod1", modKey))
	mod.subscribe(t, "devices/dev1/modules/mod1/#", 1)
	mod.subscribe(t, filterTwinResponses, 1)
	mod.subscribe(t, filterDesired, 1)
	if err := b.DeliverC2D("dev1/mod1", C2DMessage{}, nil); !errors.Is(err, ErrNotReachable) {
		t.Fatalf("module: %v", err)
	}
	if err := deliver(); !errors.Is(err, ErrNotReachable) {
		t.Fatalf("module subscribed, device not: %v", err)
	}
	if err := b.DeliverC2D("", C2DMessage{}, nil); !errors.Is(err, ErrNotReachable) {
		t.Fatalf("empty id: %v", err)
	}
	hub.expectNoReady(t, b, c, mod)

	// Properties that cannot be put in a bag: refused, nothing sent.
	c.subscribe(t, devicebound, 1)
	hub.expectReady(t, "dev1")
	err := b.DeliverC2D("dev1", C2DMessage{Properties: map[string]string{"": "v"}}, nil)
	if !errcode.Is(err, errcode.ArgumentInvalid) {
		t.Fatalf("bad properties: %v, want ArgumentInvalid", err)
	}
	c.quietPushes(t, b)
	mod.quietPushes(t, b)
}

func TestC2DUnackedLimit(t *testing.T) {
	hub := newC2DHub()
	key := hub.add("dev1")
	b, addr := startBroker(t, hub)
	c := dialRaw(t, addr)
	c.connectDevice("dev1", key)
	c.subscribe(1, devicebound)
	c.mustRead(packets.Suback)

	for i := range maxC2DUnacked {
		if err := b.DeliverC2D("dev1", C2DMessage{}, nil); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if err := b.DeliverC2D("dev1", C2DMessage{}, nil); !errors.Is(err, ErrNotReachable) {
		t.Fatalf("over the limit: %v, want ErrNotReachable", err)
	}
	pk := c.mustRead(packets.Publish)
	c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID})
	testkit.EventuallyWithin(t, waitFor, "room after a PUBACK", func() bool { return b.DeliverC2D("dev1", C2DMessage{}, nil) == nil })
}

func TestC2DReady(t *testing.T) {
	hub := newC2DHub()
	key, modKey := hub.add("dev1"), hub.add("dev1/mod1")
	b, addr := startBroker(t, hub)

	cfg := deviceConfig("dev1", key)
	first := mustDial(t, addr, cfg)
	first.subscribe(t, filterTwinResponses, 1)
	hub.expectNoReady(t, b, first) // connected, not subscribed to C2D
	first.subscribe(t, filterMethods, 1)
	hub.expectNoReady(t, b, first)
	first.subscribe(t, devicebound, 1)
	hub.expectReady(t, "dev1")
	first.Disconnect(0)
	testkit.EventuallyWithin(t, waitFor, "first connection settled", func() bool { return servedConns(b) == 0 })

	// clean-session=0 reconnect with the subscription inherited.
	second := mustDial(t, addr, cfg)
	hub.expectReady(t, "dev1")
	// A takeover inherits it too.
	mustDial(t, addr, cfg)
	second.waitLost(t)
	hub.expectReady(t, "dev1")

	// clean-session=1: the subscription is gone until made again.
	cfg.clean = true
	third := mustDial(t, addr, cfg)
	third.subscribe(t, filterTwinResponses, 1)
	hub.expectNoReady(t, b, third)
	third.subscribe(t, devicebound, 1)
	hub.expectReady(t, "dev1")

	// Modules never.
	mod := mustDial(t, addr, deviceConfig("dev1/mod1", modKey))
	mod.subscribe(t, "devices/dev1/modules/mod1/inputs/#", 1)
	mod.subscribe(t, "devices/dev1/modules/mod1/#", 1)
	mod.subscribe(t, filterTwinResponses, 1)
	hub.expectNoReady(t, b, mod)
}

func TestC2DIsolation(t *testing.T) {
	hub := newC2DHub()
	key1, key2 := hub.add("dev1"), hub.add("dev2")
	b, addr := startBroker(t, hub)
	c1 := mustDial(t, addr, deviceConfig("dev1", key1))
	c2 := mustDial(t, addr, deviceConfig("dev2", key2))
	c1.subscribe(t, devicebound, 1)
	c2.subscribe(t, "devices/dev2/messages/devicebound/#", 1)
	c2.subscribe(t, filterTwinResponses, 1) // for c2's barrier
	c2.subscribe(t, filterDesired, 1)

	var acks ackCounter
	if err := b.DeliverC2D("dev1", C2DMessage{Body: []byte("for dev1")}, acks.ack); err != nil {
		t.Fatal(err)
	}
	if m := c1.next(t, "devices/"); string(m.Payload()) != "for dev1" || m.Topic() != "devices/dev1/messages/devicebound/" {
		t.Fatalf("dev1 got %q on %q", m.Payload(), m.Topic())
	}
	c2.quietPushes(t, b)
	testkit.EventuallyWithin(t, waitFor, "acked", func() bool { return acks.count() == 1 })

	// And the ACL refuses the topic to mochi's routing, for any client.
	h := &hook{b: b}
	for _, id := range []string{"dev1", "dev2"} {
		cl, ok := b.server.Clients.Get(id)
		if !ok {
			t.Fatalf("%s unknown to mochi", id)
		}
		if h.OnACLCheck(cl, "devices/dev1/messages/devicebound/", false) {
			t.Errorf("ACL lets %s receive dev1's C2D topic by routing", id)
		}
	}
}
