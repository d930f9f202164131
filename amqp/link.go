package amqp

import (
	"context"
	"fmt"
	"sync"
)

type linkState int

const (
	linkPending   linkState = iota // attach received, handler deciding
	linkAttached                   // attach answered, messages may flow
	linkDetaching                  // we sent detach, waiting for the peer's
	linkClosed                     // nothing more happens on this link
)

// Link is one link the peer attached. The exported fields describe the
// peer's attach and are read-only; Reply is the attach we answer with.
type Link struct {
	Conn                *ConnInfo
	Name                string
	Source              *Source
	Target              *Target
	Properties          map[Symbol]any
	OfferedCapabilities []Symbol
	DesiredCapabilities []Symbol
	SndSettleMode       SenderSettleMode
	RcvSettleMode       ReceiverSettleMode
	// MaxMessageSize is the peer's limit (0 = none).
	MaxMessageSize uint64
	// Reply may be changed by the handler during its attach callback.
	Reply AttachReply

	sess       *session
	incoming   bool // the peer sends, we receive
	inHandle   uint32
	outHandle  uint32
	peerAttach *attachFrame

	// Guarded by the connection's mutex.
	state        linkState
	err          error
	detachReq    *Error // Detach called during the attach callback
	peerDetached *detachFrame
	ctx          context.Context
	cancel       context.CancelFunc
	done         chan struct{}

	// Flow state, guarded by the connection's mutex. For an incoming link
	// deliveryCount is the peer sender's as we last learnt it; for an
	// outgoing one it is ours.
	deliveryCount uint32
	credit        uint32

	in  *inState
	out *outState
}

// Context is cancelled when the link detaches or its connection closes.
func (l *Link) Context() context.Context { return l.ctx }

// Done is closed when the link has ended.
func (l *Link) Done() <-chan struct{} { return l.done }

// Err tells why the link ended, once Done is closed: an error that wraps
// ErrLinkClosed (and the peer's *Error when it gave one, for errors.As), or
// ErrConnClosed. Nil while the link is open.
func (l *Link) Err() error {
	c := l.sess.c
	c.mu.Lock()
	defer c.mu.Unlock()
	return l.err
}

// Detach ends the link from our side with err (nil for a plain detach), e.g.
// amqp:link:redirect with an Info map of hostname, network-host, port and
// address. Called during the attach callback it refuses the attach.
func (l *Link) Detach(err *Error) {
	c := l.sess.c
	c.mu.Lock()
	defer c.mu.Unlock()
	switch l.state {
	case linkPending:
		if err == nil {
			err = &Error{Condition: CondDetachForced}
		}
		l.detachReq = err
	case linkAttached:
		c.send(l.sess.local, &detachFrame{Handle: l.outHandle, Closed: true, Error: err}, nil)
		l.state = linkDetaching
		l.finish(closedBy(err))
	}
}

// closedBy is the Err of a link ended with e.
func closedBy(e *Error) error {
	if e == nil {
		return ErrLinkClosed
	}
	return fmt.Errorf("%w: %w", ErrLinkClosed, e)
}

// finish ends the link's life for its users: context, Done, pending sends.
// Its handles stay reserved until the detach exchange completes.
func (l *Link) finish(err error) {
	if l.err == nil {
		l.err = err
	}
	select {
	case <-l.done:
		return
	default:
	}
	close(l.done)
	l.cancel()
	if l.out != nil && l.out.flowed != nil {
		close(l.out.flowed)
		l.out.flowed = nil
	}
	if l.out != nil {
		for id, d := range l.sess.unsettledOut {
			if d.link == l {
				delete(l.sess.unsettledOut, id)
			}
		}
	}
	l.sess.c.broadcast()
}

// Sender is an outgoing link: the peer receives what Send sends.
type Sender struct {
	*Link
}

// outState is the sending half's state.
type outState struct {
	presettled bool // the peer asked snd-settle-mode settled
	mixed      bool // the peer asked snd-settle-mode mixed: we choose per delivery
	rcvSecond  bool // the peer settles only after we do
	drain      bool
	waiters    int // Send calls waiting for credit or window
	nextTag    uint64
	flowed     chan struct{} // closed at the peer's next flow (see Flowed)
	sendMu     sync.Mutex    // keeps one delivery's transfers contiguous

	// Under sendMu: the payloads of a burst, encoded one after another, and
	// where each ends; reused from burst to burst (see sendNoWait).
	payloads []byte
	ends     []int
}

// outDelivery is an unsettled delivery we sent, awaiting the peer's outcome.
type outDelivery struct {
	link  *Link
	state chan DeliveryState
}
