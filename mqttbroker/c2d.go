package mqttbroker

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// ErrNotReachable is returned (wrapped; test with errors.Is) by DeliverC2D
// when the device cannot take a message now: not connected, not subscribed
// to its cloud-to-device filter, or its connection is ending or has too many
// messages unacknowledged. Nothing was sent.
var ErrNotReachable = errors.New("mqttbroker: device cannot receive cloud-to-device messages now")

// maxC2DUnacked bounds the C2D publishes awaiting PUBACK on one connection.
// IoT Hub queues at most 50 per device; the margin covers redeliveries after
// a lock timeout to a device that does not acknowledge.
const maxC2DUnacked = 128

// C2DMessage is a cloud-to-device message as the broker puts it on the wire.
type C2DMessage struct {
	SystemProperties map[string]string // keys without "$.": "mid","cid","uid","to","ct","ce","exp"
	Properties       map[string]string // application properties, plus "iothub-ack"
	Body             []byte
}

// c2dInflight tracks one connection's C2D publishes awaiting PUBACK.
//
// The broker owns the outbound packet ids and matches PUBACKs itself, rather
// than through mochi's inflight store: mochi keeps inbound and outbound ids in
// one map and reports the PUBACKs it sends for the device's own QoS 1
// publishes through the same OnQosComplete hook, so a device's telemetry with
// packet id 1 would be mistaken for the acknowledgement of C2D message 1.
// Since mochi never learns of these publishes it also never replays them to a
// resumed session: redelivery belongs to the hub's queue (lock timeout).
type c2dInflight struct {
	mu     sync.Mutex
	closed bool              // the connection ended: no more sends, no acks
	next   uint16            // last packet id handed out
	acks   map[uint16]func() // by packet id
}

// DeliverC2D publishes msg at QoS 1 on
// devices/{deviceID}/messages/devicebound/{property_bag} to the device's live
// connection, if it is subscribed to devices/{deviceID}/messages/devicebound/#;
// otherwise it returns an error wrapping ErrNotReachable and sends nothing.
// It does not wait for the network.
//
// ack (may be nil) is called exactly once, on the connection's goroutine and
// without the broker's locks held, when the device's PUBACK for this publish
// arrives; never if the connection ends first (the caller's lock timeout then
// re-queues the message). It should return promptly: the device's next
// packet waits for it. Properties that cannot be encoded (an empty key, an
// application property named like a system one) are an *errcode.Error
// ArgumentInvalid.
func (b *Broker) DeliverC2D(deviceID string, msg C2DMessage, ack func()) error {
	bag, err := encodePropertyBag(msg.SystemProperties, msg.Properties)
	if err != nil {
		return errcode.New(errcode.ArgumentInvalid, "cloud-to-device message properties: %v", err)
	}
	if deviceID == "" || strings.Contains(deviceID, "/") {
		return fmt.Errorf("%w: %q is not a device id", ErrNotReachable, deviceID)
	}
	s := b.current(deviceID)
	if s == nil {
		return fmt.Errorf("%w: device %s is not connected", ErrNotReachable, deviceID)
	}
	if !s.subscribed(c2dFilter(deviceID)) {
		return fmt.Errorf("%w: device %s is not subscribed to %s", ErrNotReachable, deviceID, c2dFilter(deviceID))
	}
	if ack == nil {
		ack = func() {}
	}
	o := outbound{topic: c2dTopic(deviceID, bag), payload: bytes.Clone(msg.Body)}
	o.packetID, err = s.c2d.add(ack)
	if err != nil {
		return fmt.Errorf("%w: device %s: %w", ErrNotReachable, deviceID, err)
	}
	if !s.push(o) {
		s.c2d.take(o.packetID)
		return fmt.Errorf("%w: device %s: the connection is closing", ErrNotReachable, deviceID)
	}
	s.log.Debug("cloud-to-device message", "packet_id", o.packetID, "bytes", len(o.payload))
	return nil
}

var (
	errConnectionEnded = errors.New("the connection has ended")
	errTooManyUnacked  = fmt.Errorf("%d messages await PUBACK", maxC2DUnacked)
)

// add assigns a packet id to a new publish and records its ack.
func (c *c2dInflight) add(ack func()) (uint16, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return 0, errConnectionEnded
	case len(c.acks) >= maxC2DUnacked:
		return 0, errTooManyUnacked
	}
	for { // ends quickly: at most maxC2DUnacked of 65535 ids are in use
		c.next++
		if c.next == 0 { // 0 is not a packet id
			c.next = 1
		}
		if _, used := c.acks[c.next]; !used {
			c.acks[c.next] = ack
			return c.next, nil
		}
	}
}

// take removes and returns the ack for id, or nil if none waits (never sent,
// acknowledged already, or the connection ended).
func (c *c2dInflight) take(id uint16) func() {
	c.mu.Lock()
	defer c.mu.Unlock()
	ack := c.acks[id]
	delete(c.acks, id)
	return ack
}

// close drops every pending ack: the connection ended before their PUBACKs.
func (c *c2dInflight) close() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	n := len(c.acks)
	clear(c.acks)
	return n
}

// c2dAcknowledged handles a PUBACK from the device.
func (b *Broker) c2dAcknowledged(s *session, packetID uint16) {
	ack := s.c2d.take(packetID)
	if ack == nil {
		s.log.Debug("PUBACK for no cloud-to-device message", "packet_id", packetID)
		return
	}
	s.log.Debug("cloud-to-device message acknowledged", "packet_id", packetID)
	ack()
}

// c2dReady tells a hub that queues C2D that the device can now receive it,
// if it is a device subscribed to its C2D filter. It must run on the
// connection's goroutine: that holds the broker's wait group open.
func (b *Broker) c2dReady(s *session) {
	r, ok := b.hub.(C2DReceiver)
	if !ok || s.id.ModuleID != "" || !s.subscribed(c2dFilter(s.id.DeviceID)) {
		return
	}
	b.c2dReadys.Add(1)
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		ctx, cancel := b.hubContext()
		defer cancel()
		r.C2DReady(ctx, s.id)
	}()
}

// c2dFilter is the one filter through which a device receives C2D.
func c2dFilter(deviceID string) string {
	return "devices/" + deviceID + "/messages/devicebound/#"
}

// c2dTopic keeps the '/' after "devicebound" even with an empty bag: Node
// matches the topic against devices/.*/messages/devicebound/.*.
func c2dTopic(deviceID, bag string) string {
	return "devices/" + deviceID + "/messages/devicebound/" + bag
}
