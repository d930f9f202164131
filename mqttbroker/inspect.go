package mqttbroker

import (
	"slices"
	"sort"

	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/iothub-emulator/iothub-emulator/devicelink"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Clients lists the live connections in identity order.
func (b *Broker) Clients() []devicelink.ClientInfo {
	b.mu.Lock()
	keys := make([]string, 0, len(b.slots))
	for k := range b.slots {
		keys = append(keys, k)
	}
	b.mu.Unlock()
	sort.Strings(keys)
	out := []devicelink.ClientInfo{}
	for _, k := range keys {
		s := b.current(k)
		if s == nil || s.cl.Closed() {
			continue
		}
		s.slot.mu.Lock()
		since := s.since
		s.slot.mu.Unlock()
		subs := []string{}
		for filter := range s.cl.State.Subscriptions.GetAll() {
			subs = append(subs, filter)
		}
		slices.Sort(subs)
		out = append(out, devicelink.ClientInfo{
			DeviceID: s.id.DeviceID, ModuleID: s.id.ModuleID, ConnectedAt: since,
			Listener: s.cl.Net.Listener, Remote: s.cl.Net.Remote, Subscriptions: subs,
		})
	}
	return out
}

// PacketEvent is one MQTT packet, for the debug wire log. Passwords (SAS
// tokens) are never included.
type PacketEvent struct {
	Direction string // "in" (from the client) or "out"
	ClientID  string
	Type      string // CONNECT, PUBLISH, ...
	Topic     string
	PacketID  uint16
	QoS       byte
	Username  string
	Payload   []byte
	Filters   []string
	Reason    byte // CONNACK return code, SUBACK codes' first
}

// packetHook reports every packet to the debug log.
type packetHook struct {
	mqtt.HookBase
	log func(PacketEvent)
}

func (h *packetHook) ID() string { return "packet-log" }

func (h *packetHook) Provides(b byte) bool { return b == mqtt.OnPacketRead || b == mqtt.OnPacketSent }

func (h *packetHook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	h.log(packetEvent("in", cl, pk))
	return pk, nil
}

func (h *packetHook) OnPacketSent(cl *mqtt.Client, pk packets.Packet, _ []byte) {
	h.log(packetEvent("out", cl, pk))
}

func packetEvent(dir string, cl *mqtt.Client, pk packets.Packet) PacketEvent {
	ev := PacketEvent{
		Direction: dir,
		ClientID:  cl.ID,
		Type:      packetTypeName(pk.FixedHeader.Type),
		Topic:     pk.TopicName,
		PacketID:  pk.PacketID,
		QoS:       pk.FixedHeader.Qos,
		Payload:   pk.Payload,
		Reason:    pk.ReasonCode,
	}
	if pk.FixedHeader.Type == packets.Connect {
		ev.ClientID = pk.Connect.ClientIdentifier
		ev.Username = string(pk.Connect.Username)
	}
	for _, f := range pk.Filters {
		ev.Filters = append(ev.Filters, f.Filter)
	}
	return ev
}

func packetTypeName(t byte) string {
	if n, ok := packets.PacketNames[t]; ok {
		return n
	}
	return "UNKNOWN"
}
