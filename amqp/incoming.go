package amqp

import "fmt"

// inState is the receiving half's state; guarded by the connection's mutex
// except where noted.
type inState struct {
	recv    Receiver
	window  uint32
	maxSize uint64
	queued  int              // complete deliveries handed over and not yet answered
	queue   chan *inDelivery // capacity window+1: credit bounds what can arrive
	partial *inDelivery
}

// inDelivery is a message arriving on an incoming link.
type inDelivery struct {
	id      uint32
	format  uint32
	settled bool
	payload []byte
}

// onTransfer handles one transfer frame of an incoming link. A link-level
// violation detaches the link; nil means the frame was taken.
func (l *Link) onTransfer(t *transferFrame, payload []byte) {
	in := l.in
	if t.Aborted {
		// The peer gave up on the delivery; it is settled and forgotten.
		in.partial = nil
		return
	}
	d := in.partial
	if d == nil {
		if t.DeliveryID == nil {
			l.detachWith(NewError(CondInvalidField, "first transfer of a delivery has no delivery-id"))
			return
		}
		if l.credit == 0 {
			l.detachWith(NewError(CondTransferLimitExceed, "transfer without link credit"))
			return
		}
		l.credit--
		l.deliveryCount++
		d = &inDelivery{id: *t.DeliveryID}
		if t.MessageFormat != nil {
			d.format = *t.MessageFormat
		}
		in.partial = d
	} else if t.DeliveryID != nil && *t.DeliveryID != d.id {
		l.detachWith(NewError(CondInvalidField, "delivery-id %d changed to %d mid-delivery", d.id, *t.DeliveryID))
		return
	}
	d.settled = d.settled || t.Settled || l.SndSettleMode == SndSettled
	if uint64(len(d.payload))+uint64(len(payload)) > in.maxSize {
		l.detachWith(NewError(CondMessageSizeExceeded, "message exceeds %d bytes", in.maxSize))
		return
	}
	d.payload = append(d.payload, payload...)
	if t.More {
		return
	}
	in.partial = nil
	select {
	case in.queue <- d:
		in.queued++
	default:
		// Unreachable while credit+queued <= window holds; a defensive
		// refusal rather than an unbounded buffer.
		l.detachWith(NewError(CondTransferLimitExceed, "more deliveries than credit granted"))
	}
}

// onFlowIncoming applies a flow from the peer sender: it may have advanced
// delivery-count (e.g. after draining), which consumes our credit.
func (l *Link) onFlowIncoming(p *flowFrame) {
	if p.DeliveryCount != nil {
		c := l.deliveryCount + l.credit - *p.DeliveryCount
		if int32(c) < 0 {
			c = 0
		}
		l.deliveryCount, l.credit = *p.DeliveryCount, c
	}
	if p.Echo && l.state == linkAttached {
		l.sendReceiverFlow()
	}
}

// grantCredit tops link credit up to the window once at least half of it is
// used, so a steady stream costs one flow per half window.
func (l *Link) grantCredit() {
	in := l.in
	if l.state != linkAttached {
		return
	}
	if l.credit+uint32(in.queued) > in.window/2 {
		return
	}
	l.credit = in.window - uint32(in.queued)
	l.sendReceiverFlow()
}

func (l *Link) sendReceiverFlow() {
	dc, credit := l.deliveryCount, l.credit
	f := l.sess.flow()
	f.Handle, f.DeliveryCount, f.LinkCredit = &l.outHandle, &dc, &credit
	l.sess.c.send(l.sess.local, f, nil)
}

// detachWith detaches the link for a protocol violation.
func (l *Link) detachWith(e *Error) {
	l.sess.c.log.Debug("amqp: detaching link", "link", l.Name, "error", e)
	l.sess.c.send(l.sess.local, &detachFrame{Handle: l.outHandle, Closed: true, Error: e}, nil)
	l.state = linkDetaching
	l.finish(closedBy(e))
}

// runIncoming delivers an incoming link's messages to its Receiver, one at a
// time, off the connection's reader goroutine.
func (l *Link) runIncoming() {
	c := l.sess.c
	for {
		var d *inDelivery
		select {
		case <-l.ctx.Done():
			return
		case d = <-l.in.queue:
		}
		state, msg := l.receive(d)
		c.mu.Lock()
		attached := l.state == linkAttached
		if attached {
			if !d.settled {
				c.send(l.sess.local, &dispositionFrame{Role: roleReceiver, First: d.id, Settled: true, State: state}, nil)
			}
			l.in.queued--
			l.grantCredit()
		}
		c.mu.Unlock()
		if sr, ok := l.in.recv.(SettledReceiver); ok && attached && msg != nil {
			sr.Settled(l.ctx, msg)
		}
	}
}

// receive decodes and hands one delivery to the Receiver. An undecodable
// message is rejected without bothering the handler.
func (l *Link) receive(d *inDelivery) (state DeliveryState, msg *Message) {
	msg, err := UnmarshalMessage(d.payload)
	if err != nil {
		return &Rejected{Error: NewError(CondDecodeError, "%v", err)}, nil
	}
	msg.Format = d.format
	defer func() {
		if r := recover(); r != nil {
			l.sess.c.log.Error("amqp: receiver panicked", "link", l.Name, "panic", r)
			state = &Rejected{Error: NewError(CondInternalError, "%v", fmt.Sprint(r))}
		}
	}()
	state = l.in.recv.Receive(l.ctx, msg)
	if state == nil {
		state = &Accepted{}
	}
	return state, msg
}
