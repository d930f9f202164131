package amqp

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"
)

// recordingConn is a net.Conn (not a *net.TCPConn, so the writer coalesces
// as it does on TLS) that records every Write.
type recordingConn struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
}

func (c *recordingConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	c.writes = append(c.writes, b)
	c.mu.Unlock()
	if c.Conn == nil {
		return len(b), nil
	}
	return c.Conn.Write(b)
}

func (c *recordingConn) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.writes)
}

func TestWriteCoalesced(t *testing.T) {
	small := func(c byte) []byte { return bytes.Repeat([]byte{c}, 10) }
	big := bytes.Repeat([]byte{'B'}, coalesceLimit)

	var rc recordingConn
	scratch, err := writeCoalesced(&rc, net.Buffers{small('a'), small('b'), small('c')}, nil)
	if err != nil || len(rc.writes) != 1 || string(rc.writes[0]) != string(small('a'))+string(small('b'))+string(small('c')) {
		t.Fatalf("small frames: %d writes, err %v; want them joined in one", len(rc.writes), err)
	}

	rc = recordingConn{}
	scratch, _ = writeCoalesced(&rc, net.Buffers{small('a'), big, small('c')}, scratch)
	if len(rc.writes) != 3 || len(rc.writes[1]) != coalesceLimit {
		t.Fatalf("a frame at the limit: %d writes, want 3 (it goes alone)", len(rc.writes))
	}

	// A buffer that goes alone is written as it is, not copied first.
	rc = recordingConn{}
	one := small('x')
	_, _ = writeCoalesced(&rc, net.Buffers{one}, scratch)
	if len(rc.writes) != 1 || &rc.writes[0][0] != &one[0] {
		t.Fatal("a lone buffer was copied before its write")
	}
}

// recordingListener hands out recordingConns.
type recordingListener struct {
	net.Listener
	conns chan *recordingConn
}

func (l *recordingListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	rc := &recordingConn{Conn: nc}
	l.conns <- rc
	return rc, nil
}

// startRecordingServer serves cfg on connections whose writes are recorded.
func startRecordingServer(t *testing.T, cfg Config) (addr string, conns <-chan *recordingConn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rl := &recordingListener{Listener: l, conns: make(chan *recordingConn, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = NewServer(cfg).Serve(ctx, rl)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return l.Addr().String(), rl.conns
}

func TestPostSettledBurstIsOneWrite(t *testing.T) {
	h, senders := outgoingChan()
	addr, conns := startRecordingServer(t, Config{Handler: h})
	c, err := goamqp.Dial(tctx(t), "amqp://"+addr, anon())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc := recvOne(t, conns, "connection")
	mode := goamqp.SenderSettleModeMixed
	rcv, err := newSession(t, c).NewReceiver(tctx(t), "q", &goamqp.ReceiverOptions{Credit: 100, RequestedSenderSettleMode: &mode})
	if err != nil {
		t.Fatal(err)
	}
	snd := recvOne(t, senders, "sender")
	for snd.Credit() < 100 {
		time.Sleep(time.Millisecond)
	}
	before := rc.count()
	var msgs []*Message
	for i := range 50 {
		msgs = append(msgs, &Message{Value: fmt.Sprint(i)})
	}
	if err := snd.PostSettled(tctx(t), msgs...); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		m, err := rcv.Receive(tctx(t), nil)
		if err != nil || m.Value != fmt.Sprint(i) {
			t.Fatalf("message %d: %v %v", i, m, err)
		}
	}
	if n := rc.count() - before; n != 1 {
		t.Fatalf("fifty transfers took %d writes, want 1", n)
	}
}

func TestPostSettledBurstWaitsForCredit(t *testing.T) {
	h, senders := outgoingChan()
	ts := startServer(t, Config{Handler: h})
	c := dial(t, ts, anon())
	mode := goamqp.SenderSettleModeMixed
	rcv, err := newSession(t, c).NewReceiver(tctx(t), "q", &goamqp.ReceiverOptions{Credit: -1, RequestedSenderSettleMode: &mode})
	if err != nil {
		t.Fatal(err)
	}
	if err := rcv.IssueCredit(3); err != nil {
		t.Fatal(err)
	}
	snd := recvOne(t, senders, "sender")
	var msgs []*Message
	for i := range 5 {
		msgs = append(msgs, &Message{Value: fmt.Sprint(i)})
	}
	posted := make(chan error, 1)
	go func() { posted <- snd.PostSettled(tctx(t), msgs...) }()
	// The transfers credit allows must be written before the burst waits
	// for more: the peer grants none for what it has not received.
	for i := range 3 {
		m, err := rcv.Receive(tctx(t), nil)
		if err != nil || m.Value != fmt.Sprint(i) {
			t.Fatalf("message %d: %v %v", i, m, err)
		}
	}
	select {
	case err := <-posted:
		t.Fatalf("PostSettled returned (%v) with two messages beyond the credit", err)
	case <-time.After(50 * time.Millisecond):
	}
	if err := rcv.IssueCredit(2); err != nil {
		t.Fatal(err)
	}
	for i := 3; i < 5; i++ {
		m, err := rcv.Receive(tctx(t), nil)
		if err != nil || m.Value != fmt.Sprint(i) {
			t.Fatalf("message %d: %v %v", i, m, err)
		}
	}
	if err := recvOne(t, posted, "PostSettled"); err != nil {
		t.Fatal(err)
	}
}
