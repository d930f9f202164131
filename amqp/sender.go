package amqp

import (
	"context"
	"encoding/binary"
	"fmt"
)

// Credit is the link credit the peer has granted and we have not used.
func (s *Sender) Credit() uint32 {
	c := s.sess.c
	c.mu.Lock()
	defer c.mu.Unlock()
	return s.credit
}

// PreSettled reports whether deliveries go out settled (the peer asked for
// snd-settle-mode settled), in which case Send reports no outcome.
func (s *Sender) PreSettled() bool { return s.out.presettled }

// Send transfers msg, waiting for link credit and session window, split into
// as many transfers as the peer's max-frame-size needs. It then waits for
// the peer's outcome and returns it (nil for pre-settled deliveries, which
// return once queued). Send is safe for concurrent use; concurrent calls on
// one link are transferred one after another and await their outcomes
// independently. ctx bounds the whole wait.
func (s *Sender) Send(ctx context.Context, msg *Message) (DeliveryState, error) {
	o, err := s.Start(ctx, msg)
	if err != nil {
		return nil, err
	}
	return o.Wait(ctx)
}

// Outcome is the peer's pending outcome of a delivery Start transferred.
type Outcome struct {
	s *Sender
	d *outDelivery // nil: sent settled
}

// Start transfers msg like Send but returns once it is written, with the
// Outcome to await: deliveries started one after another go out in that
// order while their outcomes, which peers may give in any order, are
// awaited apart (a device holding several cloud-to-device messages).
func (s *Sender) Start(ctx context.Context, msg *Message) (*Outcome, error) {
	payload, err := msg.Marshal()
	if err != nil {
		return nil, err
	}
	out := s.out
	out.sendMu.Lock()
	d, err := s.transfer(ctx, msg.Format, payload, false)
	out.sendMu.Unlock()
	if err != nil {
		return nil, err
	}
	return &Outcome{s: s, d: d}, nil
}

// Wait returns the peer's outcome: nil for a delivery sent settled, an
// error if ctx ends or the link ends first.
func (o *Outcome) Wait(ctx context.Context) (DeliveryState, error) {
	if o.d == nil {
		return nil, nil
	}
	select {
	case st := <-o.d.state:
		return st, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-o.s.done:
		return nil, o.s.Err()
	}
}

// Flowed returns a channel closed when the peer next sends a flow for this
// link (new credit, a drain) or the link ends, for senders that offer work
// only while the peer has credit for it.
func (s *Sender) Flowed() <-chan struct{} {
	c := s.sess.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.out.flowed == nil {
		s.out.flowed = make(chan struct{})
		select {
		case <-s.done:
			close(s.out.flowed)
		default:
		}
	}
	return s.out.flowed
}

// Post transfers msg like Send but returns once it is written, without
// waiting for the peer's outcome: for links whose outcomes change nothing,
// such as an Event Hubs receiver, where waiting would cost a round trip per
// message.
func (s *Sender) Post(ctx context.Context, msg *Message) error {
	return s.sendNoWait(ctx, []*Message{msg}, false)
}

// PostSettled is Post sending the deliveries settled when the link allows it
// (the peer asked snd-settle-mode settled or mixed), so the peer holds no
// unsettled state for them: Event Hubs sends events this way, and go-amqp
// receivers in first mode do not renew credit for unsettled deliveries.
// On a link the peer wants unsettled it is Post.
//
// Several messages are transferred in order, and the frames of as many as
// credit allows at once are queued together, to be written in one go. On
// an error the messages before the failing one have been sent.
func (s *Sender) PostSettled(ctx context.Context, msgs ...*Message) error {
	return s.sendNoWait(ctx, msgs, s.out.mixed)
}

// maxReusedPayloads bounds the encoding buffer a link keeps between bursts.
const maxReusedPayloads = 1 << 20

// sendNoWait transfers msgs without waiting for outcomes, settled if the
// link is pre-settled or settle asks it.
func (s *Sender) sendNoWait(ctx context.Context, msgs []*Message, settle bool) error {
	out := s.out
	out.sendMu.Lock()
	defer out.sendMu.Unlock()
	// The payloads are encoded into one buffer the link keeps, as the frames
	// copy them: a burst then allocates neither per message nor as the
	// encodings grow.
	buf, ends := out.payloads[:0], out.ends[:0]
	for _, msg := range msgs {
		var err error
		if buf, err = msg.appendSections(buf); err != nil {
			return err
		}
		ends = append(ends, len(buf))
	}
	if cap(buf) <= maxReusedPayloads {
		out.payloads, out.ends = buf, ends
	} else {
		out.payloads, out.ends = nil, nil
	}
	c := s.sess.c
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hold(len(buf) + 64*len(msgs)) // room for the frame headers and performatives too
	defer c.release()
	start := 0
	for i, end := range ends {
		if _, err := s.transferLocked(ctx, msgs[i].Format, buf[start:end:end], settle); err != nil {
			return err
		}
		start = end
	}
	return nil
}

// transfer sends the frames of one delivery.
func (s *Sender) transfer(ctx context.Context, format uint32, payload []byte, settle bool) (*outDelivery, error) {
	c := s.sess.c
	c.mu.Lock()
	defer c.mu.Unlock()
	return s.transferLocked(ctx, format, payload, settle)
}

// transferLocked sends the frames of one delivery; with the connection
// mutex, which the caller holds, it assigns the delivery id and consumes
// credit and window.
func (s *Sender) transferLocked(ctx context.Context, format uint32, payload []byte, settle bool) (*outDelivery, error) {
	c := s.sess.c
	sess := s.sess
	out := s.out
	// Wait for credit and window.
	for s.state != linkAttached || s.credit == 0 || sess.remoteIncomingWindow == 0 {
		if err := s.waitLocked(ctx); err != nil {
			return nil, err
		}
	}
	id := sess.nextDeliveryID
	sess.nextDeliveryID++
	s.credit--
	s.deliveryCount++
	tag := binary.BigEndian.AppendUint64(nil, out.nextTag)
	out.nextTag++
	settled := out.presettled || settle
	var d *outDelivery
	if !settled {
		d = &outDelivery{link: s.Link, state: make(chan DeliveryState, 1)}
		sess.unsettledOut[id] = d
	}
	t := &transferFrame{Handle: s.outHandle, DeliveryID: &id, DeliveryTag: tag, MessageFormat: &format,
		Settled: settled, More: true}
	perf, err := t.appendAMQP(nil)
	if err != nil {
		return nil, err
	}
	chunk := int(c.peerMaxFrame) - frameHeaderSize - len(perf)
	if chunk < 1 {
		return nil, fmt.Errorf("amqp: peer max-frame-size %d too small for a transfer", c.peerMaxFrame)
	}
	for first := true; first || len(payload) > 0; first = false {
		if !first {
			for s.state == linkAttached && sess.remoteIncomingWindow == 0 {
				if err := s.waitLocked(ctx); err != nil {
					// The delivery is half sent: abort it so the peer discards it.
					c.send(sess.local, &transferFrame{Handle: s.outHandle, DeliveryID: &id, Aborted: true, Settled: true}, nil)
					delete(sess.unsettledOut, id)
					return nil, err
				}
			}
			if s.state != linkAttached {
				return nil, s.err
			}
		}
		n := min(chunk, len(payload))
		t.More = n < len(payload)
		sess.nextOutgoingID++
		sess.remoteIncomingWindow--
		c.send(sess.local, t, payload[:n])
		payload = payload[n:]
	}
	s.maybeDrain()
	return d, nil
}

// waitLocked releases the connection mutex until something changes, ctx
// ends or the link ends.
func (s *Sender) waitLocked(ctx context.Context) error {
	c := s.sess.c
	if s.state == linkClosed || s.state == linkDetaching {
		return s.err
	}
	ch := c.changed
	s.out.waiters++
	// Frames held for one write must go out before others can queue theirs.
	held := c.held
	if held {
		c.release()
	}
	c.mu.Unlock()
	var err error
	select {
	case <-ch:
	case <-ctx.Done():
		err = ctx.Err()
	case <-s.done:
	}
	c.mu.Lock()
	if held {
		c.hold(0)
	}
	s.out.waiters--
	if err == nil && (s.state == linkClosed || s.state == linkDetaching) {
		err = s.err
	}
	return err
}

// onFlow applies the peer receiver's flow to this sending link.
func (s *Sender) onFlow(p *flowFrame) {
	var peerCount uint32 // before the peer saw our initial-delivery-count (0)
	if p.DeliveryCount != nil {
		peerCount = *p.DeliveryCount
	}
	if p.LinkCredit != nil {
		// credit = peer's delivery-count + link-credit - ours, in serial
		// arithmetic (§2.6.7).
		c := peerCount + *p.LinkCredit - s.deliveryCount
		if int32(c) < 0 {
			c = 0
		}
		s.credit = c
	}
	if p.Drain {
		s.out.drain = true
	}
	if s.out.flowed != nil {
		close(s.out.flowed)
		s.out.flowed = nil
	}
	s.sess.c.broadcast()
	s.maybeDrain()
	if p.Echo && !p.Drain && s.state == linkAttached {
		s.sendFlow(false)
	}
}

// maybeDrain completes a drain once no Send is waiting to use the credit:
// the credit is spent by advancing delivery-count (§2.6.7).
func (s *Sender) maybeDrain() {
	if !s.out.drain || s.out.waiters > 0 || s.state != linkAttached {
		return
	}
	s.deliveryCount += s.credit
	s.credit = 0
	s.out.drain = false
	s.sendFlow(true)
}

func (s *Sender) sendFlow(drain bool) {
	dc, credit := s.deliveryCount, s.credit
	f := s.sess.flow()
	f.Handle, f.DeliveryCount, f.LinkCredit, f.Drain = &s.outHandle, &dc, &credit, drain
	s.sess.c.send(s.sess.local, f, nil)
}
