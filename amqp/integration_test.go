package amqp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"
)

func anon() *goamqp.ConnOptions { return &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous()} }

func incomingTo(col *collector) funcHandler {
	return funcHandler{in: func(_ context.Context, l *Link) (Receiver, *Error) { return col, nil }}
}

// outgoingChan hands every Sender the peer attaches to the test.
func outgoingChan() (funcHandler, chan *Sender) {
	ch := make(chan *Sender, 10)
	return funcHandler{out: func(_ context.Context, s *Sender) *Error { ch <- s; return nil }}, ch
}

func TestSASLAnonymousSendAccepted(t *testing.T) {
	col := newCollector(nil)
	var info *ConnInfo
	h := funcHandler{in: func(_ context.Context, l *Link) (Receiver, *Error) { info = l.Conn; return col, nil }}
	ts := startServer(t, Config{Handler: h})
	c := dial(t, ts, &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous(), HostName: "hub.example"})
	snd, err := newSession(t, c).NewSender(tctx(t), "/messages/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	msg := goamqp.NewMessage([]byte("hello"))
	msg.ApplicationProperties = map[string]any{"k": "v"}
	msg.Properties = &goamqp.MessageProperties{MessageID: uint64(9)}
	if err := snd.Send(tctx(t), msg, nil); err != nil {
		t.Fatalf("send: %v", err)
	}
	m := recvOne(t, col.got, "message")
	if !bytes.Equal(m.Data[0], []byte("hello")) || m.ApplicationProperties["k"] != "v" || m.Properties.MessageID != uint64(9) {
		t.Fatalf("got %+v", m)
	}
	if info.SASLMechanism() != SASLAnonymous || info.Hostname() != "hub.example" {
		t.Fatalf("conn info: mechanism %q hostname %q", info.SASLMechanism(), info.Hostname())
	}
}

func TestSASLPlain(t *testing.T) {
	auth := func(_ context.Context, mech Symbol, resp []byte, _ string) (any, error) {
		_, user, pass, err := ParsePlain(resp)
		if err != nil || mech != SASLPlain || pass != "secret" {
			return nil, errors.New("bad credentials")
		}
		return user, nil
	}
	col := newCollector(nil)
	var principal any
	h := funcHandler{in: func(_ context.Context, l *Link) (Receiver, *Error) { principal = l.Conn.Principal(); return col, nil }}
	ts := startServer(t, Config{Handler: h, SASLMechanisms: []Symbol{SASLPlain, SASLAnonymous}, Authenticate: auth})

	c := dial(t, ts, &goamqp.ConnOptions{SASLType: goamqp.SASLTypePlain("owner@sas.root.hub", "secret")})
	snd, err := newSession(t, c).NewSender(tctx(t), "q", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := snd.Send(tctx(t), goamqp.NewMessage([]byte("x")), nil); err != nil {
		t.Fatal(err)
	}
	recvOne(t, col.got, "message") // orders the handler's write before our read
	if principal != "owner@sas.root.hub" {
		t.Fatalf("principal %v", principal)
	}

	_, err = goamqp.Dial(tctx(t), "amqp://"+ts.addr, &goamqp.ConnOptions{SASLType: goamqp.SASLTypePlain("u", "wrong")})
	if err == nil || !strings.Contains(err.Error(), "Auth") && !strings.Contains(err.Error(), "auth") {
		t.Fatalf("dial with a wrong password: %v", err)
	}
}

func TestBareAMQPHeader(t *testing.T) {
	col := newCollector(nil)
	allowed := startServer(t, Config{Handler: incomingTo(col), AllowNoSASL: true})
	c := dial(t, allowed, nil) // no SASLType: go-amqp sends the AMQP header directly
	snd, err := newSession(t, c).NewSender(tctx(t), "q", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := snd.Send(tctx(t), goamqp.NewMessage([]byte("x")), nil); err != nil {
		t.Fatal(err)
	}
	recvOne(t, col.got, "message")

	refused := startServer(t, Config{Handler: incomingTo(col)})
	if c, err := goamqp.Dial(tctx(t), "amqp://"+refused.addr, nil); err == nil {
		c.Close()
		t.Fatal("bare header accepted without AllowNoSASL")
	}
}

func TestIncomingOutcomes(t *testing.T) {
	col := newCollector(func(m *Message) DeliveryState {
		switch string(m.Data[0]) {
		case "reject":
			return &Rejected{Error: NewError(CondInvalidField, "nope")}
		case "release":
			return &Released{}
		}
		return nil
	})
	ts := startServer(t, Config{Handler: incomingTo(col)})
	c := dial(t, ts, anon())
	snd, err := newSession(t, c).NewSender(tctx(t), "q", nil)
	if err != nil {
		t.Fatal(err)
	}
	err = snd.Send(tctx(t), goamqp.NewMessage([]byte("reject")), nil)
	if e := asAMQPError(err); e == nil || e.Condition != goamqp.ErrCond(CondInvalidField) || e.Description != "nope" {
		t.Fatalf("rejected send: %v", err)
	}
	receipt, err := snd.SendWithReceipt(tctx(t), goamqp.NewMessage([]byte("release")), nil)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := receipt.Wait(tctx(t)); err != nil {
		t.Fatal(err)
	} else if _, ok := st.(*goamqp.StateReleased); !ok {
		t.Fatalf("released send: state %T", st)
	}
	if err := snd.Send(tctx(t), goamqp.NewMessage([]byte("ok")), nil); err != nil {
		t.Fatalf("accepted send: %v", err)
	}
}

func TestIncomingMultiFrameAndCreditRenewal(t *testing.T) {
	col := newCollector(nil)
	ts := startServer(t, Config{Handler: incomingTo(col), MaxFrameSize: 1024, CreditWindow: 2, SessionWindow: 4})
	c := dial(t, ts, anon())
	snd, err := newSession(t, c).NewSender(tctx(t), "q", nil)
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("0123456789"), 1000) // ten frames of 1024
	for i := 0; i < 5; i++ {
		if err := snd.Send(tctx(t), goamqp.NewMessage(big), nil); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		m := recvOne(t, col.got, "message")
		if !bytes.Equal(m.Data[0], big) {
			t.Fatalf("message %d reassembled wrong (%d bytes)", i, len(m.Data[0]))
		}
	}
}

func TestIncomingMessageSizeExceeded(t *testing.T) {
	col := newCollector(nil)
	ts := startServer(t, Config{Handler: incomingTo(col), MaxMessageSize: 1000})
	c := dial(t, ts, anon())
	snd, err := newSession(t, c).NewSender(tctx(t), "q", nil)
	if err != nil {
		t.Fatal(err)
	}
	err = snd.Send(tctx(t), goamqp.NewMessage(make([]byte, 5000)), nil)
	if err == nil {
		t.Fatal("oversized message accepted")
	}
	// go-amqp refuses it locally from our advertised max-message-size, or
	// sees our detach; either way the limit was on the wire.
	if e := asAMQPError(err); e != nil && e.Condition != goamqp.ErrCond(CondMessageSizeExceeded) {
		t.Fatalf("error %v", err)
	}
}

func TestRefuseAttach(t *testing.T) {
	ts := startServer(t, Config{Handler: funcHandler{}})
	c := dial(t, ts, anon())
	s := newSession(t, c)
	_, err := s.NewSender(tctx(t), "nowhere", nil)
	if e := asAMQPError(err); e == nil || e.Condition != goamqp.ErrCond(CondNotFound) {
		t.Fatalf("sender attach: %v", err)
	}
	_, err = s.NewReceiver(tctx(t), "nowhere", nil)
	if e := asAMQPError(err); e == nil || e.Condition != goamqp.ErrCond(CondNotFound) {
		t.Fatalf("receiver attach: %v", err)
	}
	// The session still works after refusals.
	if _, err := s.NewReceiver(tctx(t), "again", nil); asAMQPError(err) == nil {
		t.Fatalf("third attach: %v", err)
	}
}

func TestOutgoingSendAndOutcomes(t *testing.T) {
	h, senders := outgoingChan()
	ts := startServer(t, Config{Handler: h})
	c := dial(t, ts, anon())
	rcv, err := newSession(t, c).NewReceiver(tctx(t), "/messages/devicebound", &goamqp.ReceiverOptions{Credit: 10})
	if err != nil {
		t.Fatal(err)
	}
	snd := recvOne(t, senders, "sender")
	if snd.Source == nil || snd.Source.Address != "/messages/devicebound" {
		t.Fatalf("source %+v", snd.Source)
	}
	type result struct {
		st  DeliveryState
		err error
	}
	results := make(chan result, 4)
	for _, body := range []string{"accept", "reject", "release", "modify"} {
		go func() {
			st, err := snd.Send(tctx(t), &Message{Data: [][]byte{[]byte(body)},
				Properties: &Properties{MessageID: body}})
			results <- result{st, err}
		}()
		m, err := rcv.Receive(tctx(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		if string(m.GetData()) != body {
			t.Fatalf("got %q want %q", m.GetData(), body)
		}
		switch body {
		case "accept":
			err = rcv.AcceptMessage(tctx(t), m)
		case "reject":
			err = rcv.RejectMessage(tctx(t), m, &goamqp.Error{Condition: "x:bad", Description: "d"})
		case "release":
			err = rcv.ReleaseMessage(tctx(t), m)
		case "modify":
			err = rcv.ModifyMessage(tctx(t), m, &goamqp.ModifyMessageOptions{DeliveryFailed: true, UndeliverableHere: true})
		}
		if err != nil {
			t.Fatal(err)
		}
		r := recvOne(t, results, "outcome")
		if r.err != nil {
			t.Fatalf("%s: %v", body, r.err)
		}
		switch st := r.st.(type) {
		case *Accepted:
			if body != "accept" {
				t.Fatalf("%s: accepted", body)
			}
		case *Rejected:
			if body != "reject" || st.Error == nil || st.Error.Condition != "x:bad" {
				t.Fatalf("%s: %+v", body, st)
			}
		case *Released:
			if body != "release" {
				t.Fatalf("%s: released", body)
			}
		case *Modified:
			if body != "modify" || !st.DeliveryFailed || !st.UndeliverableHere {
				t.Fatalf("%s: %+v", body, st)
			}
		default:
			t.Fatalf("%s: state %T", body, r.st)
		}
	}
}

func TestOutgoingLargeMessageSplit(t *testing.T) {
	h, senders := outgoingChan()
	ts := startServer(t, Config{Handler: h})
	c := dial(t, ts, &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous(), MaxFrameSize: 512})
	rcv, err := newSession(t, c).NewReceiver(tctx(t), "q", &goamqp.ReceiverOptions{Credit: 1})
	if err != nil {
		t.Fatal(err)
	}
	snd := recvOne(t, senders, "sender")
	big := bytes.Repeat([]byte("abcdefgh"), 4096) // 32 KiB over 512-byte frames
	done := make(chan error, 1)
	go func() { _, err := snd.Send(tctx(t), &Message{Data: [][]byte{big}}); done <- err }()
	m, err := rcv.Receive(tctx(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.GetData(), big) {
		t.Fatalf("got %d bytes", len(m.GetData()))
	}
	if err := rcv.AcceptMessage(tctx(t), m); err != nil {
		t.Fatal(err)
	}
	if err := recvOne(t, done, "send"); err != nil {
		t.Fatal(err)
	}
}

func TestOutgoingCreditAndDrain(t *testing.T) {
	h, senders := outgoingChan()
	ts := startServer(t, Config{Handler: h})
	c := dial(t, ts, anon())
	rcv, err := newSession(t, c).NewReceiver(tctx(t), "q", &goamqp.ReceiverOptions{Credit: -1})
	if err != nil {
		t.Fatal(err)
	}
	snd := recvOne(t, senders, "sender")
	if snd.Credit() != 0 {
		t.Fatalf("credit %d before any flow", snd.Credit())
	}
	// Without credit Send waits.
	short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := snd.Send(short, &Message{Value: "x"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("send without credit: %v", err)
	}
	if err := rcv.IssueCredit(5); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := snd.Send(tctx(t), &Message{Value: "one"}); done <- err }()
	m, err := rcv.Receive(tctx(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.Value != "one" {
		t.Fatalf("value %v", m.Value)
	}
	if err := rcv.AcceptMessage(tctx(t), m); err != nil {
		t.Fatal(err)
	}
	if err := recvOne(t, done, "send"); err != nil {
		t.Fatal(err)
	}
	// Drain: the remaining 4 credits are spent by advancing delivery-count.
	if err := rcv.DrainCredit(tctx(t), nil); err != nil {
		t.Fatalf("drain: %v", err)
	}
	if got := snd.Credit(); got != 0 {
		t.Fatalf("credit after drain %d", got)
	}
}

func TestOutgoingPreSettled(t *testing.T) {
	h, senders := outgoingChan()
	ts := startServer(t, Config{Handler: h})
	c := dial(t, ts, anon())
	mode := goamqp.SenderSettleModeSettled
	rcv, err := newSession(t, c).NewReceiver(tctx(t), "q", &goamqp.ReceiverOptions{Credit: 5, RequestedSenderSettleMode: &mode})
	if err != nil {
		t.Fatal(err)
	}
	snd := recvOne(t, senders, "sender")
	if !snd.PreSettled() {
		t.Fatal("not pre-settled")
	}
	st, err := snd.Send(tctx(t), &Message{Value: "v"})
	if err != nil || st != nil {
		t.Fatalf("pre-settled send: %v %v", st, err)
	}
	m, err := rcv.Receive(tctx(t), nil)
	if err != nil || m.Value != "v" {
		t.Fatalf("receive: %v %v", m, err)
	}
}

func TestServerDetachRedirect(t *testing.T) {
	h, senders := outgoingChan()
	ts := startServer(t, Config{Handler: h})
	c := dial(t, ts, anon())
	rcv, err := newSession(t, c).NewReceiver(tctx(t), "q", nil)
	if err != nil {
		t.Fatal(err)
	}
	snd := recvOne(t, senders, "sender")
	snd.Detach(&Error{Condition: CondLinkRedirect, Description: "go elsewhere", Info: map[Symbol]any{
		"hostname": "other.example", "network-host": "10.0.0.1", "port": int32(5671), "address": "q2"}})
	select {
	case <-snd.Done():
	case <-time.After(testWait):
		t.Fatal("sender not done after Detach")
	}
	_, err = rcv.Receive(tctx(t), nil)
	e := asAMQPError(err)
	if e == nil || e.Condition != goamqp.ErrCond(CondLinkRedirect) || e.Info["hostname"] != "other.example" ||
		e.Info["port"] != int32(5671) || e.Info["address"] != "q2" {
		t.Fatalf("receive after redirect: %v (%+v)", err, e)
	}
	if _, err := snd.Send(tctx(t), &Message{Value: "x"}); !errors.Is(err, ErrLinkClosed) {
		t.Fatalf("send after detach: %v", err)
	}
}

func TestPeerDetachEndsLinkContext(t *testing.T) {
	linkCtx := make(chan context.Context, 1)
	h := funcHandler{in: func(_ context.Context, l *Link) (Receiver, *Error) {
		linkCtx <- l.Context()
		return newCollector(nil), nil
	}}
	ts := startServer(t, Config{Handler: h})
	c := dial(t, ts, anon())
	snd, err := newSession(t, c).NewSender(tctx(t), "q", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := recvOne(t, linkCtx, "link")
	if err := snd.Close(tctx(t)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(testWait):
		t.Fatal("link context not cancelled by peer detach")
	}
}

// TestOutgoingStartInOrderOutcomesApart: deliveries started one after
// another arrive in that order, and each outcome is awaited on its own,
// whatever order the peer settles them in.
func TestOutgoingStartInOrderOutcomesApart(t *testing.T) {
	h, senders := outgoingChan()
	ts := startServer(t, Config{Handler: h})
	c := dial(t, ts, anon())
	rcv, err := newSession(t, c).NewReceiver(tctx(t), "/q", &goamqp.ReceiverOptions{Credit: 10})
	if err != nil {
		t.Fatal(err)
	}
	snd := recvOne(t, senders, "sender")
	var outcomes []*Outcome
	for _, body := range []string{"a", "b", "c"} {
		o, err := snd.Start(tctx(t), &Message{Data: [][]byte{[]byte(body)}})
		if err != nil {
			t.Fatal(err)
		}
		outcomes = append(outcomes, o)
	}
	var got []*goamqp.Message
	for range 3 {
		m, err := rcv.Receive(tctx(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m)
	}
	for i, want := range []string{"a", "b", "c"} {
		if string(got[i].GetData()) != want {
			t.Fatalf("delivery %d is %q, want %q", i, got[i].GetData(), want)
		}
	}
	// Settled last first: each Wait gets its own outcome.
	if err := rcv.RejectMessage(tctx(t), got[2], nil); err != nil {
		t.Fatal(err)
	}
	if err := rcv.ReleaseMessage(tctx(t), got[1]); err != nil {
		t.Fatal(err)
	}
	if err := rcv.AcceptMessage(tctx(t), got[0]); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"*amqp.Accepted", "*amqp.Released", "*amqp.Rejected"} {
		st, err := outcomes[i].Wait(tctx(t))
		if err != nil || fmt.Sprintf("%T", st) != want {
			t.Fatalf("outcome %d: %T %v, want %s", i, st, err, want)
		}
	}
}

// TestOutgoingFlowed: Flowed's channel closes at the peer's next flow and
// when the link ends.
func TestOutgoingFlowed(t *testing.T) {
	h, senders := outgoingChan()
	ts := startServer(t, Config{Handler: h})
	c := dial(t, ts, anon())
	rcv, err := newSession(t, c).NewReceiver(tctx(t), "/q", &goamqp.ReceiverOptions{Credit: -1})
	if err != nil {
		t.Fatal(err)
	}
	snd := recvOne(t, senders, "sender")
	flowed := snd.Flowed()
	select {
	case <-flowed:
		t.Fatal("closed before any flow")
	case <-time.After(50 * time.Millisecond):
	}
	if err := rcv.IssueCredit(3); err != nil {
		t.Fatal(err)
	}
	// go-amqp sends the flow with its next receive.
	go func() { _, _ = rcv.Receive(tctx(t), nil) }()
	recvOne(t, chanOf(flowed), "flow")
	if snd.Credit() != 3 {
		t.Fatalf("credit %d, want 3", snd.Credit())
	}
	next := snd.Flowed()
	if err := rcv.Close(tctx(t)); err != nil {
		t.Fatal(err)
	}
	recvOne(t, chanOf(next), "link end")
}

// chanOf turns a closing channel into one recvOne can read.
func chanOf(done <-chan struct{}) <-chan struct{} {
	ch := make(chan struct{}, 1)
	go func() {
		<-done
		ch <- struct{}{}
	}()
	return ch
}
