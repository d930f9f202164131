package amqp

import (
	"context"
)

// bigWindow is the outgoing-window we advertise: we never limit on it, and
// it stays clear of signed 32-bit overflow in peers' arithmetic.
const bigWindow = 1<<31 - 1

// session is one begun session; guarded by the connection's mutex.
type session struct {
	c      *conn
	local  uint16 // our channel
	remote uint16 // the peer's channel

	// Incoming transfers (§2.5.6).
	nextIncomingID uint32
	incomingWindow uint32 // what remains of the window we granted

	// Outgoing transfers.
	nextOutgoingID       uint32
	remoteIncomingWindow uint32
	nextDeliveryID       uint32
	unsettledOut         map[uint32]*outDelivery

	peerHandleMax uint32
	links         map[uint32]*Link // by the peer's handle
	outHandles    map[uint32]*Link // by ours
	ending        bool             // we sent end and wait for the peer's
}

// flow returns a flow frame carrying the session's current state.
func (s *session) flow() *flowFrame {
	nid := s.nextIncomingID
	return &flowFrame{NextIncomingID: &nid, IncomingWindow: s.incomingWindow,
		NextOutgoingID: s.nextOutgoingID, OutgoingWindow: bigWindow}
}

// end ends the session from our side, e.g. for a protocol violation.
func (s *session) end(e *Error) {
	if s.ending {
		return
	}
	s.c.log.Debug("amqp: ending session", "channel", s.remote, "error", e)
	s.c.send(s.local, &endFrame{Error: e}, nil)
	s.ending = true
	s.finishLinks(sessionEnded(e))
}

func sessionEnded(e *Error) error {
	if e == nil {
		return ErrLinkClosed
	}
	return closedBy(e)
}

func (s *session) finishLinks(err error) {
	for _, l := range s.links {
		l.state = linkClosed
		l.finish(err)
	}
}

// handle dispatches one frame addressed to this session.
func (s *session) handle(body performative, payload []byte) {
	if s.ending {
		if _, ok := body.(*endFrame); ok {
			s.c.removeSession(s)
		}
		return // frames in flight before our end are moot
	}
	switch p := body.(type) {
	case *attachFrame:
		s.onAttach(p)
	case *flowFrame:
		s.onFlow(p)
	case *transferFrame:
		s.onTransfer(p, payload)
	case *dispositionFrame:
		s.onDisposition(p)
	case *detachFrame:
		s.onDetach(p)
	case *endFrame:
		s.c.send(s.local, &endFrame{}, nil)
		s.finishLinks(sessionEnded(p.Error))
		s.c.removeSession(s)
	default:
		s.c.fail(NewError(CondNotAllowed, "%T on a session channel", body))
	}
}

func (s *session) onAttach(p *attachFrame) {
	cfg := &s.c.cfg
	if p.Handle > cfg.HandleMax {
		s.end(NewError(CondInvalidField, "handle %d exceeds handle-max %d", p.Handle, cfg.HandleMax))
		return
	}
	if _, ok := s.links[p.Handle]; ok {
		s.end(NewError(CondHandleInUse, "handle %d is in use", p.Handle))
		return
	}
	var out uint32
	for ; out <= s.peerHandleMax; out++ {
		if _, used := s.outHandles[out]; !used {
			break
		}
	}
	if out > s.peerHandleMax {
		s.end(NewError(CondResourceLimitExceeded, "no free handle within the peer's handle-max"))
		return
	}
	ctx, cancel := context.WithCancel(s.c.ctx)
	l := &Link{
		Conn: s.c.info, Name: p.Name, Source: p.Source, Target: p.Target, Properties: p.Properties,
		OfferedCapabilities: p.OfferedCapabilities, DesiredCapabilities: p.DesiredCapabilities,
		SndSettleMode: p.SndSettleMode, RcvSettleMode: p.RcvSettleMode, MaxMessageSize: p.MaxMessageSize,
		Reply: AttachReply{Source: p.Source, Target: p.Target},
		sess:  s, incoming: p.Role == roleSender, inHandle: p.Handle, outHandle: out, peerAttach: p,
		ctx: ctx, cancel: cancel, done: make(chan struct{}),
	}
	if l.incoming {
		if p.InitialDeliveryCount != nil {
			l.deliveryCount = *p.InitialDeliveryCount
		}
		l.in = &inState{window: cfg.CreditWindow, maxSize: cfg.MaxMessageSize,
			queue: make(chan *inDelivery, cfg.CreditWindow+1)}
	} else {
		l.out = &outState{presettled: p.SndSettleMode == SndSettled, mixed: p.SndSettleMode == SndMixed, rcvSecond: p.RcvSettleMode == RcvSecond}
	}
	s.links[p.Handle] = l
	s.outHandles[out] = l
	go s.c.runAttach(l)
}

func (s *session) link(handle uint32) *Link {
	l := s.links[handle]
	if l == nil {
		s.end(NewError(CondUnattachedHandle, "handle %d is not attached", handle))
	}
	return l
}

func (s *session) onFlow(p *flowFrame) {
	// remote-incoming-window = next-incoming-id + incoming-window -
	// next-outgoing-id (§2.5.6); before the peer has seen our begin its
	// next-incoming-id is our initial next-outgoing-id, 0.
	var nid uint32
	if p.NextIncomingID != nil {
		nid = *p.NextIncomingID
	}
	w := nid + p.IncomingWindow - s.nextOutgoingID
	if int32(w) < 0 {
		w = 0
	}
	s.remoteIncomingWindow = w
	s.c.broadcast()
	if p.Handle == nil {
		if p.Echo {
			s.c.send(s.local, s.flow(), nil)
		}
		return
	}
	l := s.link(*p.Handle)
	if l == nil || l.state == linkDetaching || l.state == linkClosed {
		return
	}
	if l.incoming {
		l.onFlowIncoming(p)
	} else {
		(&Sender{l}).onFlow(p)
	}
}

func (s *session) onTransfer(p *transferFrame, payload []byte) {
	if s.incomingWindow == 0 {
		s.end(NewError(CondWindowViolation, "transfer beyond the incoming-window"))
		return
	}
	s.nextIncomingID++
	s.incomingWindow--
	if s.incomingWindow <= s.c.cfg.SessionWindow/2 {
		s.incomingWindow = s.c.cfg.SessionWindow
		s.c.send(s.local, s.flow(), nil)
	}
	l := s.link(p.Handle)
	if l == nil {
		return
	}
	switch {
	case l.state == linkDetaching || l.state == linkClosed:
		// In flight before our detach reached the peer.
	case l.state == linkPending:
		// No credit can have been granted yet, and a detach may not precede
		// our attach, so the session is what ends.
		s.end(NewError(CondNotAllowed, "transfer on handle %d before its attach was answered", p.Handle))
	case !l.incoming:
		l.detachWith(NewError(CondNotAllowed, "transfer on a link where the peer is the receiver"))
	default:
		l.onTransfer(p, payload)
	}
}

func (s *session) onDisposition(p *dispositionFrame) {
	if p.Role != roleReceiver {
		return // the peer settling what it sent us: we settled on our side already
	}
	last := p.First
	if p.Last != nil {
		last = *p.Last
	}
	span := last - p.First
	// Visit whichever is smaller, the range or our unsettled set, so a
	// hostile 0..2^32-1 range costs nothing.
	if uint64(span) < uint64(len(s.unsettledOut)) {
		for i := uint64(0); i <= uint64(span); i++ {
			s.settleOut(p.First+uint32(i), p)
		}
		return
	}
	for id := range s.unsettledOut {
		if id-p.First <= span {
			s.settleOut(id, p)
		}
	}
}

// settleOut reports the peer's outcome for a delivery we sent. With
// rcv-settle-mode second the peer waits for us to settle, which we do.
func (s *session) settleOut(id uint32, p *dispositionFrame) {
	d := s.unsettledOut[id]
	if d == nil {
		return
	}
	_, received := p.State.(*Received)
	if !p.Settled && (p.State == nil || received) {
		return // not an outcome yet
	}
	delete(s.unsettledOut, id)
	if !p.Settled && d.link.state == linkAttached {
		s.c.send(s.local, &dispositionFrame{Role: roleSender, First: id, Settled: true, State: p.State}, nil)
	}
	d.state <- p.State
}

func (s *session) onDetach(p *detachFrame) {
	l := s.link(p.Handle)
	if l == nil {
		return
	}
	switch l.state {
	case linkPending:
		l.peerDetached = p // answered once the handler has decided
		l.finish(closedBy(p.Error))
		return
	case linkAttached:
		s.c.send(s.local, &detachFrame{Handle: l.outHandle, Closed: p.Closed}, nil)
	}
	l.state = linkClosed
	l.finish(closedBy(p.Error))
	delete(s.links, l.inHandle)
	delete(s.outHandles, l.outHandle)
}

// finishAttach answers the attach once the handler has decided.
func (s *session) finishAttach(l *Link, recv Receiver, refuse *Error) {
	if l.state != linkPending {
		return // session or connection ended meanwhile
	}
	if l.detachReq != nil && refuse == nil {
		refuse = l.detachReq
	}
	if l.peerDetached != nil {
		s.sendAttach(l, true)
		s.c.send(s.local, &detachFrame{Handle: l.outHandle, Closed: l.peerDetached.Closed}, nil)
		l.state = linkClosed
		delete(s.links, l.inHandle)
		delete(s.outHandles, l.outHandle)
		return
	}
	if refuse != nil {
		s.sendAttach(l, true)
		s.c.send(s.local, &detachFrame{Handle: l.outHandle, Closed: true, Error: refuse}, nil)
		l.state = linkDetaching
		l.finish(closedBy(refuse))
		return
	}
	s.sendAttach(l, false)
	l.state = linkAttached
	if l.incoming {
		l.in.recv = recv
		l.grantCredit()
		go l.runIncoming()
	} else {
		snd := &Sender{l}
		s.c.broadcast()
		snd.maybeDrain()
	}
}

// sendAttach sends our attach; refused ones carry a null terminus on our
// side, which tells the peer no link was made (§2.6.3).
func (s *session) sendAttach(l *Link, refused bool) {
	a := &attachFrame{
		Name: l.Name, Handle: l.outHandle, Role: !l.peerAttach.Role,
		SndSettleMode: l.SndSettleMode, RcvSettleMode: l.RcvSettleMode,
		Source: l.Reply.Source, Target: l.Reply.Target, Properties: l.Reply.Properties,
		OfferedCapabilities: l.Reply.OfferedCapabilities, DesiredCapabilities: l.Reply.DesiredCapabilities,
	}
	if l.incoming {
		// We settle first and never second: say so.
		a.RcvSettleMode = RcvFirst
		a.MaxMessageSize = s.c.cfg.MaxMessageSize
		if refused {
			a.Target = nil
		}
	} else {
		var zero uint32
		a.InitialDeliveryCount = &zero
		switch {
		case l.out.presettled:
			a.SndSettleMode = SndSettled
		case l.out.mixed:
			a.SndSettleMode = SndMixed // PostSettled may settle, Send does not
		default:
			a.SndSettleMode = SndUnsettled
		}
		if refused {
			a.Source = nil
		}
	}
	s.c.send(s.local, a, nil)
}
