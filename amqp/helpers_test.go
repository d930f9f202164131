package amqp

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"
)

// testWait bounds every wait in these tests.
const testWait = 10 * time.Second

// testServer runs a Server on a loopback listener until the test ends.
type testServer struct {
	addr   string
	cancel context.CancelFunc
	done   chan struct{}
}

func startServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{addr: l.Addr().String(), cancel: cancel, done: make(chan struct{})}
	srv := NewServer(cfg)
	go func() {
		defer close(ts.done)
		_ = srv.Serve(ctx, l)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-ts.done:
		case <-time.After(testWait):
			t.Error("server did not stop")
		}
	})
	return ts
}

func dial(t *testing.T, ts *testServer, opts *goamqp.ConnOptions) *goamqp.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	c, err := goamqp.Dial(ctx, "amqp://"+ts.addr, opts)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func newSession(t *testing.T, c *goamqp.Conn) *goamqp.Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	s, err := c.NewSession(ctx, nil)
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	return s
}

func tctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	t.Cleanup(cancel)
	return ctx
}

// funcHandler builds a Handler from two functions; nil ones refuse.
type funcHandler struct {
	in  func(ctx context.Context, l *Link) (Receiver, *Error)
	out func(ctx context.Context, s *Sender) *Error
}

func (h funcHandler) AttachIncoming(ctx context.Context, l *Link) (Receiver, *Error) {
	if h.in == nil {
		return nil, NewError(CondNotFound, "no incoming links")
	}
	return h.in(ctx, l)
}

func (h funcHandler) AttachOutgoing(ctx context.Context, s *Sender) *Error {
	if h.out == nil {
		return NewError(CondNotFound, "no outgoing links")
	}
	return h.out(ctx, s)
}

// collector is a Receiver that records messages and answers with outcome.
type collector struct {
	mu      sync.Mutex
	msgs    []*Message
	got     chan *Message
	outcome func(*Message) DeliveryState
}

func newCollector(outcome func(*Message) DeliveryState) *collector {
	return &collector{got: make(chan *Message, 100), outcome: outcome}
}

func (c *collector) Receive(ctx context.Context, m *Message) DeliveryState {
	c.mu.Lock()
	c.msgs = append(c.msgs, m)
	c.mu.Unlock()
	c.got <- m
	if c.outcome != nil {
		return c.outcome(m)
	}
	return &Accepted{}
}

func recvOne[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testWait):
		t.Fatalf("timed out waiting for %s", what)
	}
	var zero T
	return zero
}

func asAMQPError(err error) *goamqp.Error {
	var e *goamqp.Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
