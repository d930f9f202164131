package mqttbroker

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/mochi-mqtt/server/v2/packets"
)

func TestTelemetryReachesTheHub(t *testing.T) {
	hub := newReceivingHub()
	devKey, modKey := hub.add("dev1"), hub.add("dev1/mod1")
	_, addr := startBroker(t, hub)
	dev := mustDial(t, addr, deviceConfig("dev1", devKey))
	mod := mustDial(t, addr, deviceConfig("dev1/mod1", modKey))

	tests := []struct {
		name       string
		c          *testClient
		topic      string
		wantID     Identity
		wantSystem map[string]string
		wantProps  map[string]string
	}{
		{
			"device, Python-style bag", dev,
			"devices/dev1/messages/events/%24.mid=m1&%24.ct=application%2Fjson&%24.ce=utf-8&k=v%20w",
			Identity{DeviceID: "dev1"},
			map[string]string{"mid": "m1", "ct": "application/json", "ce": "utf-8"},
			map[string]string{"k": "v w"},
		},
		{
			"module output", mod,
			"devices/dev1/modules/mod1/messages/events/$.on=out1",
			Identity{DeviceID: "dev1", ModuleID: "mod1"},
			map[string]string{"on": "out1"},
			map[string]string{},
		},
		{
			// ModuleClient.sendOutputEvent in the Node SDK ends the bag with '/'.
			"module output, Node-style", mod,
			"devices/dev1/modules/mod1/messages/events/%24.on=temperature/",
			Identity{DeviceID: "dev1", ModuleID: "mod1"},
			map[string]string{"on": "temperature"},
			map[string]string{},
		},
		{
			"closing slash after application properties", dev,
			"devices/dev1/messages/events/%24.mid=m2&k=v/",
			Identity{DeviceID: "dev1"},
			map[string]string{"mid": "m2"},
			map[string]string{"k": "v"},
		},
		{"no bag", dev, "devices/dev1/messages/events/", Identity{DeviceID: "dev1"}, map[string]string{}, map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.c.publish(t, tt.topic, 1, "payload")
			select {
			case got := <-hub.telemetry:
				if got.ID.DeviceID != tt.wantID.DeviceID || got.ID.ModuleID != tt.wantID.ModuleID {
					t.Errorf("identity = %+v, want %+v", got.ID, tt.wantID)
				}
				if !maps.Equal(got.Msg.SystemProperties, tt.wantSystem) || !maps.Equal(got.Msg.Properties, tt.wantProps) {
					t.Errorf("properties = %v %v, want %v %v", got.Msg.SystemProperties, got.Msg.Properties, tt.wantSystem, tt.wantProps)
				}
				if string(got.Msg.Body) != "payload" || got.Msg.Retain || got.Msg.Will {
					t.Errorf("message = %+v", got.Msg)
				}
			case <-time.After(waitFor):
				t.Fatal("telemetry not received")
			}
		})
	}
}

// IoT Hub takes 256 KB of what the device sent: the body, the values of
// system properties and the names and values of application properties,
// decoded. One byte more closes the connection without a PUBACK.
func TestTelemetrySizeLimit(t *testing.T) {
	const bag = "%24.ct=application%2Fjson&k=v"
	const bagSize = len("application/json") + len("k") + len("v") // as metered
	tests := []struct {
		name   string
		topic  string
		body   int
		retain bool
		want   bool // accepted
	}{
		{"body alone at the limit", "devices/dev1/messages/events/", maxTelemetrySize, false, true},
		{"body alone one byte over", "devices/dev1/messages/events/", maxTelemetrySize + 1, false, false},
		{"body and bag at the limit", "devices/dev1/messages/events/" + bag, maxTelemetrySize - bagSize, false, true},
		{"body and bag one byte over", "devices/dev1/messages/events/" + bag, maxTelemetrySize - bagSize + 1, false, false},
		{"the closing slash is not counted", "devices/dev1/messages/events/" + bag + "/", maxTelemetrySize - bagSize, false, true},
		{"retained at the limit", "devices/dev1/messages/events/", maxTelemetrySize, true, true},
		{"far over, refused by mochi's packet limit", "devices/dev1/messages/events/", maxPacketSize, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hub := newReceivingHub()
			key := hub.add("dev1")
			_, addr := startBroker(t, hub)
			c := dialRaw(t, addr)
			c.connectDevice("dev1", key)
			// Written directly: the broker may close before it has all of a
			// refused packet, which is no failure of the test.
			_ = c.conn.SetWriteDeadline(time.Now().Add(waitFor))
			_, _ = c.conn.Write(encodePacket(t, packets.Packet{
				FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1, Retain: tt.retain},
				TopicName:   tt.topic,
				PacketID:    7,
				Payload:     make([]byte, tt.body),
			}))
			pk, err := c.read(waitFor)
			if !tt.want {
				if err == nil {
					t.Fatalf("got packet type %d, want the connection closed", pk.FixedHeader.Type)
				}
				select {
				case got := <-hub.telemetry:
					t.Fatalf("refused message reached the hub: %d bytes", len(got.Msg.Body))
				default:
				}
				return
			}
			if err != nil || pk.FixedHeader.Type != packets.Puback || pk.PacketID != 7 {
				t.Fatalf("got packet %+v, %v; want PUBACK 7", pk.FixedHeader, err)
			}
			select {
			case got := <-hub.telemetry:
				if len(got.Msg.Body) != tt.body || got.Msg.Retain != tt.retain {
					t.Fatalf("hub got %d bytes (retain %v), want %d (%v)", len(got.Msg.Body), got.Msg.Retain, tt.body, tt.retain)
				}
			case <-time.After(waitFor):
				t.Fatal("telemetry not received")
			}
		})
	}
}

func TestTelemetryWithoutReceiverIsAcceptedAndDropped(t *testing.T) {
	hub := newFakeHub()
	key := hub.add("dev1")
	_, addr := startBroker(t, hub)
	c := mustDial(t, addr, deviceConfig("dev1", key))
	c.subscribe(t, "$iothub/twin/res/#", 1)                  // for stillUp
	c.publish(t, "devices/dev1/messages/events/a=b", 1, "x") // acknowledged
	c.publish(t, "$iothub/methods/res/200/?$rid=1", 1, "{}")
	c.stillUp(t)
}

func TestTelemetryRefusedByHubClosesWithoutPuback(t *testing.T) {
	hub := newReceivingHub()
	hub.rejectTelemetry = errcode.New(errcode.IotHubQuotaExceeded, "quota")
	key := hub.add("dev1")
	_, addr := startBroker(t, hub)
	c := dialRaw(t, addr)
	c.connectDevice("dev1", key)
	c.publish("devices/dev1/messages/events/", 1, 3, "x")
	pk, err := c.read(waitFor)
	if err == nil {
		t.Fatalf("got packet type %d, want the connection closed", pk.FixedHeader.Type)
	}
}

func TestRetainedMessagesAreNeverStored(t *testing.T) {
	hub := newReceivingHub()
	key := hub.add("dev1")
	b, addr := startBroker(t, hub)
	c := mustDial(t, addr, deviceConfig("dev1", key))
	tok := c.Publish("devices/dev1/messages/events/", 1, true, "kept?")
	if !tok.WaitTimeout(waitFor) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	select {
	case got := <-hub.telemetry:
		if !got.Msg.Retain {
			t.Error("Retain flag not passed on")
		}
	case <-time.After(waitFor):
		t.Fatal("telemetry not received")
	}
	if msgs := b.server.Topics.Messages("#"); len(msgs) != 0 {
		t.Fatalf("retained messages stored: %v", msgs)
	}
}

// PUBACKs come in publish order, and a twin response only after the PUBACK
// of its request.
func TestPubackOrder(t *testing.T) {
	hub := newReceivingHub()
	key := hub.add("dev1")
	_, addr := startBroker(t, hub)
	c := dialRaw(t, addr)
	c.connectDevice("dev1", key)
	c.subscribe(1, "$iothub/twin/res/#")
	c.mustRead(packets.Suback)

	const n = 30
	for i := uint16(1); i <= n; i++ {
		rid := strconv.Itoa(int(i))
		switch i % 3 {
		case 0:
			c.publish("$iothub/twin/GET/?$rid="+rid, 1, i, " ")
		case 1:
			c.publish("$iothub/twin/PATCH/properties/reported/?$rid="+rid, 1, i, `{"n":`+rid+`}`)
		default:
			c.publish("devices/dev1/messages/events/", 1, i, rid)
		}
	}
	var acks []uint16
	acked := map[string]bool{}
	for len(acks) < n || len(acked) < 2*n/3 {
		pk, err := c.read(waitFor)
		if err != nil {
			t.Fatalf("after %d PUBACKs: %v", len(acks), err)
		}
		switch pk.FixedHeader.Type {
		case packets.Puback:
			acks = append(acks, pk.PacketID)
		case packets.Publish:
			_, query, _ := strings.Cut(pk.TopicName, "/?")
			rid, err := requestID(query)
			if err != nil {
				t.Fatalf("response topic %q: %v", pk.TopicName, err)
			}
			id, err := strconv.Atoi(rid)
			if err != nil {
				t.Fatalf("rid %q: %v", rid, err)
			}
			if !slices.Contains(acks, uint16(id)) {
				t.Fatalf("response %q before the PUBACK of its request (acks so far %v)", pk.TopicName, acks)
			}
			acked[rid] = true
		}
	}
	for i, id := range acks {
		if id != uint16(i+1) {
			t.Fatalf("PUBACK order = %v", acks)
		}
	}
	for range n / 3 {
		select {
		case <-hub.telemetry:
		case <-time.After(waitFor):
			t.Fatal("telemetry missing")
		}
	}
}
