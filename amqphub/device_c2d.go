package amqphub

import (
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"sync"

	"github.com/iothub-emulator/iothub-emulator/amqp"
	"github.com/iothub-emulator/iothub-emulator/c2d"
)

// c2dBuffer bounds the messages handed to one link and not yet
// transferred; credit bounds them first.
const c2dBuffer = 64

// errNoC2DLink: the device has no cloud-to-device link with credit left,
// so the queue keeps the message for later (a flow, a new link).
var errNoC2DLink = errors.New("amqphub: no cloud-to-device link with credit")

// c2dLink delivers a device's queued cloud-to-device messages on
// /devices/{id}/messages/devicebound, from the queue MQTT and HTTPS devices
// share. Deliveries are unsettled; the device's outcome settles the queued
// message: accepted completes it, released or modified abandons it, rejected
// dead-letters it.
type c2dLink struct {
	s        *Server
	snd      *amqp.Sender
	deviceID string
	queue    chan c2d.Message

	mu       sync.Mutex
	reserved int // handed over by DeliverC2D, not yet transferred
}

func (s *Server) attachC2D(snd *amqp.Sender, id identity) {
	if id.moduleID != "" {
		// Modules have no cloud-to-device queue: the link attaches and
		// stays idle, as a module's input link on IoT Hub does.
		s.attached(snd.Link, id, endpointC2D, nil)
		return
	}
	cl := &c2dLink{s: s, snd: snd, deviceID: id.deviceID, queue: make(chan c2d.Message, c2dBuffer)}
	s.attached(snd.Link, id, endpointC2D, func(il *identityLinks) { il.c2d = append(il.c2d, cl) })
	s.goLink(cl.run)
	s.goLink(cl.watchCredit)
}

// reserve takes one of the peer's credits for a message about to be handed
// over, if the link has one to spare.
func (cl *c2dLink) reserve() bool {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	select {
	case <-cl.snd.Done():
		return false
	default:
	}
	if int(cl.snd.Credit())-cl.reserved <= 0 || cl.reserved >= c2dBuffer {
		return false
	}
	cl.reserved++
	return true
}

// DeliverC2D hands a locked message to the device's newest link with
// credit, without blocking; with none the queue keeps it.
func (s *Server) DeliverC2D(deviceID string, m c2d.Message, _ func()) error {
	var target *c2dLink
	s.devs.lookup(identity{deviceID: deviceID}, func(il *identityLinks) {
		for i := len(il.c2d) - 1; i >= 0 && target == nil; i-- {
			if il.c2d[i].reserve() {
				target = il.c2d[i]
			}
		}
	})
	if target == nil {
		return errNoC2DLink
	}
	target.queue <- m // cannot block: reserve counted the room
	return nil
}

// watchCredit offers the queue's messages whenever the device grants
// credit, which is when a link that had none can take them.
func (cl *c2dLink) watchCredit() {
	for {
		flowed := cl.snd.Flowed()
		select {
		case <-cl.snd.Done():
			return
		case <-flowed:
		}
		if cl.snd.Credit() > 0 {
			cl.s.c2d.DeviceReady(cl.deviceID)
		}
	}
}

// run transfers the handed-over messages in order and settles each with
// the device's outcome. When the link ends, what it still holds is
// abandoned, so the queue offers it again at once.
func (cl *c2dLink) run() {
	ctx := cl.snd.Context()
	for {
		select {
		case m := <-cl.queue:
			cl.transfer(ctx, m)
		case <-cl.snd.Done():
			for {
				select {
				case m := <-cl.queue:
					cl.settle(m, &amqp.Released{})
				default:
					return
				}
			}
		}
	}
}

func (cl *c2dLink) transfer(ctx context.Context, m c2d.Message) {
	o, err := cl.snd.Start(ctx, c2dWire(cl.deviceID, m))
	cl.mu.Lock()
	cl.reserved--
	cl.mu.Unlock()
	if err != nil {
		cl.s.log.Debug("cloud-to-device transfer failed", "device", cl.deviceID, "messageId", m.MessageID, "err", err)
		cl.settle(m, &amqp.Released{})
		return
	}
	cl.s.goLink(func() {
		st, err := o.Wait(ctx)
		if err != nil {
			st = &amqp.Released{}
		} else if st == nil { // the device asked for settled deliveries: at most once
			st = &amqp.Accepted{}
		}
		cl.settle(m, st)
	})
}

// settle applies the device's outcome to the queued message.
func (cl *c2dLink) settle(m c2d.Message, st amqp.DeliveryState) {
	ctx := context.WithoutCancel(cl.s.ctx)
	q := cl.s.c2d
	var err error
	outcome := "abandon"
	switch st.(type) {
	case *amqp.Accepted:
		outcome, err = "complete", q.Complete(ctx, cl.deviceID, m.LockToken)
	case *amqp.Rejected:
		outcome, err = "reject", q.Reject(ctx, cl.deviceID, m.LockToken)
	default: // released, modified
		err = q.Abandon(ctx, cl.deviceID, m.LockToken)
	}
	if err != nil {
		cl.s.log.Debug("cloud-to-device outcome not applied", "device", cl.deviceID, "messageId", m.MessageID, "outcome", outcome, "err", err)
	}
}

// c2dWire is a queued message as IoT Hub sends it to an AMQP device: the
// message's properties, its application properties with iothub-ack, and
// annotations with the lock token, sequence number and enqueued time.
func c2dWire(deviceID string, m c2d.Message) *amqp.Message {
	props := make(map[string]any, len(m.Properties)+1)
	for k, v := range m.Properties {
		props[k] = v
	}
	if m.Ack != "" && !strings.EqualFold(m.Ack, c2d.AckNone) {
		props["iothub-ack"] = strings.ToLower(m.Ack)
	}
	var lock any = m.LockToken
	if u, ok := parseUUID(m.LockToken); ok {
		lock = u
	}
	delivered := uint32(0)
	if m.DeliveryCount > 1 {
		delivered = uint32(m.DeliveryCount - 1)
	}
	return &amqp.Message{
		Header: &amqp.Header{Durable: true, DeliveryCount: delivered},
		Annotations: map[amqp.Symbol]any{
			"x-opt-lock-token":      lock,
			"x-opt-sequence-number": m.SequenceNumber,
			"x-opt-enqueued-time":   m.EnqueuedTime,
			"iothub-deliverycount":  int32(m.DeliveryCount),
			"iothub-enqueuedtime":   m.EnqueuedTime,
		},
		Properties: &amqp.Properties{
			MessageID:          optID(m.MessageID),
			To:                 "/devices/" + deviceID + "/messages/deviceBound",
			CorrelationID:      optID(m.CorrelationID),
			UserID:             []byte(m.UserID),
			ContentType:        amqp.Symbol(m.ContentType),
			ContentEncoding:    amqp.Symbol(m.ContentEncoding),
			AbsoluteExpiryTime: m.ExpiryTime,
		},
		ApplicationProperties: props,
		Data:                  [][]byte{m.Body},
	}
}

// optID is a message id as a string, or absent.
func optID(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// parseUUID reads a GUID's text form.
func parseUUID(s string) (amqp.UUID, bool) {
	var u amqp.UUID
	h := strings.ReplaceAll(s, "-", "")
	if len(h) != 32 {
		return u, false
	}
	if _, err := hex.Decode(u[:], []byte(h)); err != nil {
		return u, false
	}
	return u, true
}
