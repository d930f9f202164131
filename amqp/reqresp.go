package amqp

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// RequestHandler answers one request of a request/response node. It returns
// the reply (nil sends none); the node fills in correlation-id and To.
// Callers usually set application properties status-code (int32) and
// status-description.
type RequestHandler func(ctx context.Context, conn *ConnInfo, req *Message) *Message

// RequestResponseNode is the AMQP management / CBS pattern as a Handler for
// one node address: the peer attaches a sender whose target is the node and
// a receiver (source the node, target its reply address) on the same
// connection. Each request is answered on the receiver link whose target
// address equals the request's reply-to (the newest, if several), or on
// the connection's first such receiver when reply-to is absent or matches
// none. The reply's
// correlation-id is the request's message-id, type preserved (its
// correlation-id when it has no message-id). Requests are accepted.
//
// Route both directions of the node's address to the same node value.
type RequestResponseNode struct {
	handle RequestHandler
	log    *slog.Logger
	// ReplyTimeout bounds waiting for reply-link credit. Default 30s.
	ReplyTimeout time.Duration

	mu      sync.Mutex
	replies map[*ConnInfo][]*Sender // reply links by connection, in attach order
}

// NewRequestResponseNode returns a node answering with h; logger may be nil.
func NewRequestResponseNode(h RequestHandler, logger *slog.Logger) *RequestResponseNode {
	if logger == nil {
		logger = Config{}.withDefaults().Logger
	}
	return &RequestResponseNode{handle: h, log: logger, replies: map[*ConnInfo][]*Sender{}}
}

// AttachIncoming accepts the request link.
func (n *RequestResponseNode) AttachIncoming(ctx context.Context, l *Link) (Receiver, *Error) {
	return requestLink{n: n, conn: l.Conn}, nil
}

// requestLink accepts each request and answers it once the acceptance is
// on its way: uamqp fails a put-token whose reply arrives before the
// request's disposition.
type requestLink struct {
	n    *RequestResponseNode
	conn *ConnInfo
}

func (r requestLink) Receive(context.Context, *Message) DeliveryState { return &Accepted{} }

func (r requestLink) Settled(ctx context.Context, req *Message) { r.n.serve(ctx, r.conn, req) }

// AttachOutgoing accepts a reply link and remembers it until it detaches.
func (n *RequestResponseNode) AttachOutgoing(ctx context.Context, s *Sender) *Error {
	n.mu.Lock()
	n.replies[s.Conn] = append(n.replies[s.Conn], s)
	n.mu.Unlock()
	go func() {
		<-s.Done()
		n.mu.Lock()
		defer n.mu.Unlock()
		list := n.replies[s.Conn]
		for i, x := range list {
			if x == s {
				list = append(list[:i:i], list[i+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(n.replies, s.Conn)
		} else {
			n.replies[s.Conn] = list
		}
	}()
	return nil
}

func (n *RequestResponseNode) serve(ctx context.Context, conn *ConnInfo, req *Message) {
	reply := n.handle(ctx, conn, req)
	if reply == nil {
		return
	}
	var replyTo string
	var corr any
	if p := req.Properties; p != nil {
		replyTo = p.ReplyTo
		corr = p.MessageID
		if corr == nil {
			corr = p.CorrelationID
		}
	}
	if reply.Properties == nil {
		reply.Properties = &Properties{}
	}
	reply.Properties.CorrelationID = corr
	if reply.Properties.To == "" {
		reply.Properties.To = replyTo
	}
	s := n.replyLink(conn, replyTo)
	if s == nil {
		n.log.Warn("amqp: request/response: no reply link", "reply-to", replyTo)
		return
	}
	timeout := n.ReplyTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Only the transfer is awaited, not the reply's outcome: clients often
	// settle the reply only after the request's own disposition, which
	// waits for us.
	if err := s.Post(ctx, reply); err != nil {
		n.log.Warn("amqp: request/response: reply not delivered", "reply-to", replyTo, "error", err)
	}
}

// replyLink picks the reply link: the newest live one whose target is
// replyTo, else the oldest live one. A link that has just detached may
// still be listed (its removal runs once its Done closes), and clients
// that attach a fresh reply link per request reuse the address, so ended
// links are skipped and the newest match wins.
func (n *RequestResponseNode) replyLink(conn *ConnInfo, replyTo string) *Sender {
	n.mu.Lock()
	defer n.mu.Unlock()
	list := n.replies[conn]
	live := func(s *Sender) bool {
		select {
		case <-s.Done():
			return false
		default:
			return true
		}
	}
	if replyTo != "" {
		for i := len(list) - 1; i >= 0; i-- {
			if s := list[i]; s.Target != nil && s.Target.Address == replyTo && live(s) {
				return s
			}
		}
	}
	for _, s := range list {
		if live(s) {
			return s
		}
	}
	return nil
}
