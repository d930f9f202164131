package mqttbroker

import (
	"encoding/json"
	"errors"
	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
	"net"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
)

func TestTwoDevicesNeverSeeEachOther(t *testing.T) {
	hub := newFakeHub()
	key1, key2 := hub.add("dev1"), hub.add("dev2")
	hub.setDesired("dev1", "owner", "one")
	hub.setDesired("dev2", "owner", "two")
	b, addr := startBroker(t, hub)

	c1 := mustDial(t, addr, deviceConfig("dev1", key1))
	c2 := mustDial(t, addr, deviceConfig("dev2", key2))
	for _, c := range []*testClient{c1, c2} {
		c.subscribe(t, "$iothub/twin/res/#", 1)
		c.subscribe(t, "$iothub/twin/PATCH/properties/desired/#", 1)
		c.subscribe(t, "$iothub/methods/POST/#", 1)
	}
	c1.subscribe(t, "devices/dev1/messages/devicebound/#", 1)
	c2.subscribe(t, "devices/dev2/messages/devicebound/#", 1)

	// Same literal subscriptions, same rid: each gets its own twin only.
	if doc := getTwin(t, c1, "same"); doc.Desired["owner"] != "one" {
		t.Fatalf("dev1 got twin %v", doc.Desired)
	}
	c2.quietPushes(t, b)
	if doc := getTwin(t, c2, "same"); doc.Desired["owner"] != "two" {
		t.Fatalf("dev2 got twin %v", doc.Desired)
	}
	c1.quietPushes(t, b)

	c1.publish(t, "$iothub/twin/PATCH/properties/reported/?$rid=p", 1, `{"x":1}`)
	c1.next(t, "$iothub/twin/res/204/")
	c2.quietPushes(t, b)

	// A desired notification goes to its identity only.
	version, body := hub.setDesired("dev1", "owner", "uno")
	b.NotifyDesired("dev1", "", version, body)
	m := c1.next(t, "$iothub/twin/PATCH/properties/desired/")
	if want := desiredTopic(version); m.Topic() != want {
		t.Fatalf("desired topic = %q, want %q", m.Topic(), want)
	}
	var patch map[string]any
	if err := json.Unmarshal(m.Payload(), &patch); err != nil || patch["owner"] != "uno" || patch["$version"] != float64(version) {
		t.Fatalf("desired body %s (%v)", m.Payload(), err)
	}
	c2.quietPushes(t, b)

	// Telemetry and method responses of one device reach nobody. c1's
	// barrier comes first: once it is answered, both publishes have been
	// handled, so anything they caused for c2 is ahead of c2's barrier.
	c1.publish(t, "devices/dev1/messages/events/k=v", 1, "hello")
	c1.publish(t, "$iothub/methods/res/200/?$rid=1", 0, "{}")
	c1.quietPushes(t, b)
	c2.quietPushes(t, b)
}

// Even a subscription that bypassed the ACL (as a future bug might) must not
// let one client receive another's publishes: mochi's routing is off.
func TestNoTopicRoutingEvenPastTheACL(t *testing.T) {
	hub := newFakeHub()
	key1, key2 := hub.add("dev1"), hub.add("dev2")
	b, addr := startBroker(t, hub)
	c1 := mustDial(t, addr, deviceConfig("dev1", key1))
	c2 := mustDial(t, addr, deviceConfig("dev2", key2))
	c2.subscribe(t, filterTwinResponses, 1) // for c2's barrier
	c2.subscribe(t, filterDesired, 1)

	for _, filter := range []string{"#", "devices/dev1/messages/events/#", "$iothub/twin/GET/#"} {
		b.server.Topics.Subscribe("dev2", packets.Subscription{Filter: filter, Qos: 1})
	}
	c1.publish(t, "devices/dev1/messages/events/", 1, "secret")
	c1.publish(t, "$iothub/twin/GET/?$rid=1", 0, " ")
	// c1 is not subscribed to twin responses (the GET is never answered):
	// the PUBACK of a later QoS 1 publish shows both have been handled, and
	// any routing of them to c2 done, before c2's barrier.
	c1.publish(t, "devices/dev1/messages/events/", 1, "barrier")
	c2.quietPushes(t, b)

	// Both walls hold on their own: the ACL refuses every delivery too.
	h := &hook{b: b}
	cl, ok := b.server.Clients.Get("dev2")
	if !ok {
		t.Fatal("dev2 unknown to mochi")
	}
	for _, topic := range []string{"devices/dev1/messages/events/", "devices/dev2/messages/devicebound/", "$iothub/twin/res/200/?$rid=1"} {
		if h.OnACLCheck(cl, topic, false) {
			t.Errorf("ACL lets %q be delivered by topic routing", topic)
		}
	}
}

func TestAllowedSubscriptions(t *testing.T) {
	hub := newFakeHub()
	devKey, modKey := hub.add("dev1"), hub.add("dev1/mod1")
	_, addr := startBroker(t, hub)
	tests := []struct {
		clientID string
		key      []byte
		filters  []string
	}{
		{"dev1", devKey, []string{"$iothub/twin/res/#", "$iothub/twin/PATCH/properties/desired/#", "$iothub/methods/POST/#", "devices/dev1/messages/devicebound/#"}},
		{"dev1/mod1", modKey, []string{"$iothub/twin/res/#", "$iothub/twin/PATCH/properties/desired/#", "$iothub/methods/POST/#", "devices/dev1/modules/mod1/inputs/#", "devices/dev1/modules/mod1/#"}},
	}
	for _, tt := range tests {
		t.Run(tt.clientID, func(t *testing.T) {
			c := mustDial(t, addr, deviceConfig(tt.clientID, tt.key))
			for _, f := range tt.filters {
				if granted := c.subscribe(t, f, 2); granted != 1 {
					t.Errorf("%s: granted %d, want QoS 2 downgraded to 1", f, granted)
				}
			}
			c.stillUp(t)
		})
	}
}

func TestForbiddenSubscribeClosesConnection(t *testing.T) {
	hub := newFakeHub()
	devKey, modKey := hub.add("dev1"), hub.add("dev1/mod1")
	hub.add("dev2")
	b, addr := startBroker(t, hub)
	tests := []struct {
		clientID string
		key      []byte
		filter   string
	}{
		{"dev1", devKey, "devices/dev2/messages/devicebound/#"},
		{"dev1", devKey, "devices/+/messages/devicebound/#"},
		{"dev1", devKey, "#"},
		{"dev1", devKey, "$iothub/#"},
		{"dev1", devKey, "$iothub/twin/res/200/?$rid=1"},
		{"dev1", devKey, "devices/dev1/messages/events/#"},
		{"dev1", devKey, "devices/dev1/modules/mod1/inputs/#"},
		{"dev1", devKey, "$SYS/#"},
		{"dev1", devKey, "$share/g/$iothub/twin/res/#"},
		{"dev1", devKey, "devices/#/x"}, // invalid filter: mochi refuses it before the ACL
		{"dev1/mod1", modKey, "devices/dev1/messages/devicebound/#"},
		{"dev1/mod1", modKey, "devices/dev1/modules/mod2/inputs/#"},
	}
	for _, tt := range tests {
		t.Run(tt.clientID+" "+tt.filter, func(t *testing.T) {
			c := dialRaw(t, addr)
			c.connectDevice(tt.clientID, tt.key)
			c.subscribe(7, "$iothub/twin/res/#", tt.filter)
			ack := c.mustRead(packets.Suback)
			if len(ack.ReasonCodes) != 2 || ack.ReasonCodes[0] != 1 || ack.ReasonCodes[1] != 0x80 {
				t.Fatalf("SUBACK codes = %v, want [1 128]", ack.ReasonCodes)
			}
			c.expectClosed()
			testkit.EventuallyWithin(t, waitFor, "disconnect noticed", func() bool { return b.ConnectedCount() == 0 })
		})
	}
}

func TestForbiddenPublishClosesConnection(t *testing.T) {
	hub := newFakeHub()
	devKey, modKey := hub.add("dev1"), hub.add("dev1/mod1")
	hub.add("dev2")
	b, addr := startBroker(t, hub)
	tests := []struct {
		name     string
		clientID string
		key      []byte
		topic    string
		qos      byte
	}{
		{"another device's telemetry", "dev1", devKey, "devices/dev2/messages/events/", 0},
		{"another device's telemetry at QoS 1", "dev1", devKey, "devices/dev2/messages/events/", 1},
		{"a module's telemetry from its device", "dev1", devKey, "devices/dev1/modules/mod1/messages/events/", 1},
		{"the device's telemetry from its module", "dev1/mod1", modKey, "devices/dev1/messages/events/", 1},
		{"cloud-to-device topic", "dev1", devKey, "devices/dev1/messages/devicebound/", 0},
		{"twin response topic", "dev1", devKey, "$iothub/twin/res/200/?$rid=1", 0},
		{"desired topic", "dev1", devKey, "$iothub/twin/PATCH/properties/desired/?$version=2", 1},
		{"method request topic", "dev1", devKey, "$iothub/methods/POST/reboot/?$rid=1", 0},
		{"arbitrary topic", "dev1", devKey, "hello/world", 0},
		{"$SYS", "dev1", devKey, "$SYS/broker/version", 0},
		{"wildcard", "dev1", devKey, "devices/dev1/messages/events/#", 0},
		{"malformed property bag", "dev1", devKey, "devices/dev1/messages/events/a=%zz", 1},
		{"QoS 2 on an allowed topic", "dev1", devKey, "devices/dev1/messages/events/", 2},
		{"QoS 2 twin request", "dev1", devKey, "$iothub/twin/GET/?$rid=1", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialRaw(t, addr)
			c.connectDevice(tt.clientID, tt.key)
			id := uint16(0)
			if tt.qos > 0 {
				id = 9
			}
			c.publish(tt.topic, tt.qos, id, "x")
			// Closed without a PUBACK or PUBREC.
			for {
				pk, err := c.read(waitFor)
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Fatalf("connection still open after %v", waitFor)
				}
				if err != nil {
					break
				}
				if pk.FixedHeader.Type == packets.Puback || pk.FixedHeader.Type == packets.Pubrec {
					t.Fatalf("forbidden publish acknowledged (packet type %d)", pk.FixedHeader.Type)
				}
			}
			testkit.EventuallyWithin(t, waitFor, "disconnect noticed", func() bool { return b.ConnectedCount() == 0 })
		})
	}
}
