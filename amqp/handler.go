package amqp

import (
	"context"
)

// Handler decides on the links a peer attaches. Its methods run on their
// own goroutine (never the connection's reader), so they may block briefly,
// e.g. to look something up; the attach is answered when they return. ctx
// ends with the connection.
type Handler interface {
	// AttachIncoming is called when the peer attaches as sender: messages
	// flow to us. Return the Receiver that gets them, or an *Error to refuse
	// the link (the peer sees the attach answered with a null target and
	// then a detach carrying the error). l.Reply may be changed before
	// returning.
	AttachIncoming(ctx context.Context, l *Link) (Receiver, *Error)
	// AttachOutgoing is called when the peer attaches as receiver: we send.
	// Keep s to Send on it (typically from a goroutine started here); return
	// an *Error to refuse (a null source, then a detach). s.Reply may be
	// changed before returning.
	AttachOutgoing(ctx context.Context, s *Sender) *Error
}

// Receiver consumes the messages of one incoming link.
type Receiver interface {
	// Receive is called once per complete message, sequentially for a
	// link, on that link's own goroutine; ctx is cancelled when the link
	// detaches or the connection closes. The returned state (*Accepted,
	// *Rejected, *Released or *Modified; nil means *Accepted) is sent to the
	// peer only after Receive returns, so "accepted" can mean "stored". For
	// messages the peer sent pre-settled the result is ignored.
	Receive(ctx context.Context, msg *Message) DeliveryState
}

// SettledReceiver is a Receiver that is told, after each message's outcome
// has been queued to the peer (a disposition for unsettled deliveries),
// so that what it sends then follows the outcome on the wire: a
// request/response node's reply comes after the request's settlement,
// which uamqp requires.
type SettledReceiver interface {
	Receiver
	Settled(ctx context.Context, msg *Message)
}

// ReceiverFunc adapts a function to Receiver.
type ReceiverFunc func(ctx context.Context, msg *Message) DeliveryState

// Receive calls f.
func (f ReceiverFunc) Receive(ctx context.Context, msg *Message) DeliveryState { return f(ctx, msg) }

// AttachReply is the attach we answer with. It starts as an echo of the
// peer's source and target; the handler may change it during its attach
// callback (and not after).
type AttachReply struct {
	Source              *Source
	Target              *Target
	Properties          map[Symbol]any
	OfferedCapabilities []Symbol
	DesiredCapabilities []Symbol
}
