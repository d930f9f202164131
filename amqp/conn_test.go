package amqp

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"
)

func TestRequestResponseNode(t *testing.T) {
	node := NewRequestResponseNode(func(_ context.Context, _ *ConnInfo, req *Message) *Message {
		return &Message{ApplicationProperties: map[string]any{"status-code": int32(200), "status-description": "OK"},
			Value: req.ApplicationProperties["operation"]}
	}, nil)
	h := funcHandler{
		in:  func(ctx context.Context, l *Link) (Receiver, *Error) { return node.AttachIncoming(ctx, l) },
		out: func(ctx context.Context, s *Sender) *Error { return node.AttachOutgoing(ctx, s) },
	}
	ts := startServer(t, Config{Handler: h})
	c := dial(t, ts, anon())
	s := newSession(t, c)
	req, err := s.NewSender(tctx(t), "$cbs", nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.NewReceiver(tctx(t), "$cbs", &goamqp.ReceiverOptions{TargetAddress: "other-reply", Credit: 5})
	if err != nil {
		t.Fatal(err)
	}
	rcv, err := s.NewReceiver(tctx(t), "$cbs", &goamqp.ReceiverOptions{TargetAddress: "cbs-reply", Credit: 5})
	if err != nil {
		t.Fatal(err)
	}
	_ = other
	for _, id := range []any{uint64(7), goamqp.UUID{1, 2}, "string-id"} {
		m := goamqp.NewMessage(nil)
		m.Data = nil
		m.Value = "token"
		m.Properties = &goamqp.MessageProperties{MessageID: id, ReplyTo: ptr("cbs-reply")}
		m.ApplicationProperties = map[string]any{"operation": "put-token"}
		if err := req.Send(tctx(t), m, nil); err != nil {
			t.Fatal(err)
		}
		reply, err := rcv.Receive(tctx(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := rcv.AcceptMessage(tctx(t), reply); err != nil {
			t.Fatal(err)
		}
		if reply.Properties == nil || reply.Properties.CorrelationID != id {
			t.Fatalf("correlation-id %#v, want %#v", reply.Properties.CorrelationID, id)
		}
		if reply.ApplicationProperties["status-code"] != int32(200) || reply.Value != "put-token" {
			t.Fatalf("reply %+v %v", reply.ApplicationProperties, reply.Value)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestIdleTimeoutHeartbeatsKeepAlive(t *testing.T) {
	col := newCollector(nil)
	ts := startServer(t, Config{Handler: incomingTo(col), IdleTimeout: 300 * time.Millisecond})
	// The client's own idle-time-out makes us send heartbeats; its
	// heartbeats (at half our 300ms) keep us from closing it.
	c := dial(t, ts, &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous(), IdleTimeout: 400 * time.Millisecond})
	snd, err := newSession(t, c).NewSender(tctx(t), "q", nil)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // a quiet spell several idle periods long
	if err := snd.Send(tctx(t), goamqp.NewMessage([]byte("still here")), nil); err != nil {
		t.Fatalf("send after a quiet spell: %v", err)
	}
}

// rawConn does the protocol headers and open by hand so a test can then
// misbehave on the wire.
type rawConn struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func rawDial(t *testing.T, ts *testServer, idleMS uint32) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", ts.addr, testWait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(testWait))
	r := &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)}
	r.write(headerAMQP[:])
	var h [8]byte
	if _, err := io.ReadFull(r.br, h[:]); err != nil || h != headerAMQP {
		t.Fatalf("header %q %v", h, err)
	}
	open, _ := appendFrame(nil, frameAMQP, 0, &openFrame{ContainerID: "raw", MaxFrameSize: 65536, ChannelMax: 10, IdleTimeout: idleMS}, nil)
	r.write(open)
	if _, ok := r.next().body.(*openFrame); !ok {
		t.Fatal("no open from the server")
	}
	return r
}

func (r *rawConn) write(b []byte) {
	if _, err := r.nc.Write(b); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawConn) next() frame {
	f, err := readFrame(r.br, 1<<20)
	if err != nil {
		r.t.Fatalf("reading a frame: %v", err)
	}
	return f
}

// closeError reads frames (skipping heartbeats) until the server's close.
func (r *rawConn) closeError() *Error {
	for range 100 {
		f := r.next()
		if c, ok := f.body.(*closeFrame); ok {
			return c.Error
		}
	}
	r.t.Fatal("no close frame")
	return nil
}

func TestSilentPeerIsClosed(t *testing.T) {
	ts := startServer(t, Config{Handler: funcHandler{}, AllowNoSASL: true, IdleTimeout: 200 * time.Millisecond})
	r := rawDial(t, ts, 0)
	start := time.Now()
	e := r.closeError()
	if e == nil || e.Condition != CondResourceLimitExceeded {
		t.Fatalf("close error %v", e)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("closed only after %v", time.Since(start))
	}
}

func TestServerSendsHeartbeats(t *testing.T) {
	ts := startServer(t, Config{Handler: funcHandler{}, AllowNoSASL: true})
	r := rawDial(t, ts, 100)
	for i := 0; i < 3; i++ {
		if f := r.next(); f.body != nil {
			t.Fatalf("expected an empty frame, got %T", f.body)
		}
	}
}

func TestBadInputClosesOnlyThatConnection(t *testing.T) {
	col := newCollector(nil)
	ts := startServer(t, Config{Handler: incomingTo(col), AllowNoSASL: true, MaxFrameSize: 1024})
	good := dial(t, ts, nil)
	snd, err := newSession(t, good).NewSender(tctx(t), "q", nil)
	if err != nil {
		t.Fatal(err)
	}

	oversized := rawDial(t, ts, 0)
	big, _ := appendFrame(nil, frameAMQP, 0, &beginFrame{}, make([]byte, 2000))
	oversized.write(big)
	if e := oversized.closeError(); e == nil || e.Condition != CondFramingError {
		t.Fatalf("oversized frame: %v", e)
	}

	garbage := rawDial(t, ts, 0)
	garbage.write([]byte{0, 0, 0, 12, 2, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef})
	if e := garbage.closeError(); e == nil || e.Condition != CondDecodeError {
		t.Fatalf("garbage performative: %v", e)
	}

	unattached := rawDial(t, ts, 0)
	b, _ := appendFrame(nil, frameAMQP, 0, &beginFrame{IncomingWindow: 10, OutgoingWindow: 10, HandleMax: 5}, nil)
	unattached.write(b)
	if _, ok := unattached.next().body.(*beginFrame); !ok {
		t.Fatal("no begin")
	}
	b, _ = appendFrame(nil, frameAMQP, 0, &transferFrame{Handle: 3, DeliveryID: u32(0)}, []byte("x"))
	unattached.write(b)
	for range 10 {
		f := unattached.next()
		if end, ok := f.body.(*endFrame); ok {
			if end.Error == nil || end.Error.Condition != CondUnattachedHandle {
				t.Fatalf("end error %v", end.Error)
			}
			break
		}
	}

	notAMQP := rawDialBytes(t, ts, []byte("GET / HTTP/1.1\r\n"))
	if notAMQP != headerSASL {
		t.Fatalf("answered %q to HTTP", notAMQP)
	}
	if tlsHdr := rawDialBytes(t, ts, headerTLS[:]); tlsHdr != headerSASL {
		t.Fatalf("answered %q to the TLS header", tlsHdr)
	}

	if err := snd.Send(tctx(t), goamqp.NewMessage([]byte("unaffected")), nil); err != nil {
		t.Fatalf("good connection broken by a bad one: %v", err)
	}
}

// rawDialBytes sends b as a protocol header and returns the server's header.
func rawDialBytes(t *testing.T, ts *testServer, b []byte) [8]byte {
	nc, err := net.DialTimeout("tcp", ts.addr, testWait)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(testWait))
	if _, err := nc.Write(b); err != nil {
		t.Fatal(err)
	}
	var h [8]byte
	if _, err := io.ReadFull(nc, h[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection left open after an unsupported header")
	}
	return h
}

func TestContextCancelClosesGracefully(t *testing.T) {
	client, server := net.Pipe()
	srv := NewServer(Config{Handler: funcHandler{}, AllowNoSASL: true})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- srv.ServeConn(ctx, server) }()
	c, err := goamqp.NewConn(tctx(t), client, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := newSession(t, c)
	cancel()
	select {
	case <-served:
	case <-time.After(testWait):
		t.Fatal("ServeConn did not return after cancel")
	}
	_, err = s.NewSender(tctx(t), "q", nil)
	var connErr *goamqp.ConnError
	if !errors.As(err, &connErr) {
		t.Fatalf("after cancel: %v", err)
	}
	if connErr.RemoteErr == nil || connErr.RemoteErr.Condition != goamqp.ErrCond(CondConnectionForced) {
		t.Fatalf("close error %+v", connErr.RemoteErr)
	}
}

func TestPeerCloseEndsServeConn(t *testing.T) {
	client, server := net.Pipe()
	srv := NewServer(Config{Handler: funcHandler{}, AllowNoSASL: true})
	served := make(chan error, 1)
	go func() { served <- srv.ServeConn(context.Background(), server) }()
	c, err := goamqp.NewConn(tctx(t), client, nil)
	if err != nil {
		t.Fatal(err)
	}
	// go-amqp may report the pipe closing under its reader after our close
	// reply; what matters here is how ServeConn saw it.
	_ = c.Close()
	if err := recvOne(t, served, "ServeConn"); err != nil {
		t.Fatalf("ServeConn after a clean close: %v", err)
	}
}

// TestFramesAfterEndAreDropped: a peer may send frames on a session it has
// ended before it sees our end (rhea's dispositions, pyamqp's detaches);
// they must not close the connection, while a never-begun channel still does.
func TestFramesAfterEndAreDropped(t *testing.T) {
	ts := startServer(t, Config{Handler: funcHandler{}, AllowNoSASL: true})
	r := rawDial(t, ts, 0)
	b, _ := appendFrame(nil, frameAMQP, 3, &beginFrame{IncomingWindow: 10, OutgoingWindow: 10, HandleMax: 5}, nil)
	r.write(b)
	if _, ok := r.next().body.(*beginFrame); !ok {
		t.Fatal("no begin")
	}
	b, _ = appendFrame(nil, frameAMQP, 3, &endFrame{}, nil)
	r.write(b)
	if _, ok := r.next().body.(*endFrame); !ok {
		t.Fatal("no end")
	}
	late, _ := appendFrame(nil, frameAMQP, 3, &dispositionFrame{Role: true, First: 0, Settled: true, State: &Accepted{}}, nil)
	r.write(late)
	// The connection still works: a new session begins.
	b, _ = appendFrame(nil, frameAMQP, 4, &beginFrame{IncomingWindow: 10, OutgoingWindow: 10, HandleMax: 5}, nil)
	r.write(b)
	if f := r.next(); func() bool { _, ok := f.body.(*beginFrame); return !ok }() {
		t.Fatalf("after a late frame on an ended session: %T, want begin", f.body)
	}
	// A frame on a channel that never had a session still closes it.
	b, _ = appendFrame(nil, frameAMQP, 7, &dispositionFrame{Role: true, First: 0, Settled: true}, nil)
	r.write(b)
	if e := r.closeError(); e == nil || e.Condition != CondNotAllowed {
		t.Fatalf("frame on a never-begun channel: %v", e)
	}
}
