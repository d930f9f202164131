package amqp

import (
	"bytes"
	"context"
	"testing"

	goamqp "github.com/Azure/go-amqp"
)

func TestSendToIncomingLinkAccepted(t *testing.T) {
	col := newCollector(nil)
	ts := startServer(t, Config{Handler: funcHandler{in: func(_ context.Context, l *Link) (Receiver, *Error) { return col, nil }}})
	c := dial(t, ts, &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous()})
	s := newSession(t, c)
	snd, err := s.NewSender(tctx(t), "/messages/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := snd.Send(tctx(t), goamqp.NewMessage([]byte("hello")), nil); err != nil {
		t.Fatalf("send: %v", err)
	}
	m := recvOne(t, col.got, "message")
	if !bytes.Equal(m.Data[0], []byte("hello")) {
		t.Fatalf("got %q", m.Data)
	}
}
