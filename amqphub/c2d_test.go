package amqphub

import (
	"context"
	"errors"
	"strings"
	"testing"

	goamqp "github.com/Azure/go-amqp"

	"github.com/iothub-emulator/iothub-emulator/c2d"
	"github.com/iothub-emulator/iothub-emulator/fileupload"
	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
)

func TestC2DSendAfterCBS(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.hub.PutDevice(ctx, "d1", []byte(`{}`), ""); err != nil {
		t.Fatal(err)
	}
	conn := f.dial(&goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous()})
	s := f.session(conn)

	// Without a token the link is refused.
	if _, err := s.NewSender(ctx, "/messages/devicebound", nil); !isCondition(err, "amqp:unauthorized-access") {
		t.Fatalf("attach without a token: %v, want amqp:unauthorized-access", err)
	}
	if code := f.putToken(s, "127.0.0.1", "SharedAccessSignature sr=127.0.0.1&sig=bad&se=1"); code != 401 {
		t.Fatalf("bad token: status %d, want 401", code)
	}
	if code := f.putToken(s, "127.0.0.1", f.token("registryReadWrite", "127.0.0.1")); code != 401 {
		t.Fatalf("a policy without ServiceConnect: status %d, want 401", code)
	}
	if code := f.putToken(s, "127.0.0.1", f.token("service", "127.0.0.1")); code != 200 {
		t.Fatalf("good token: status %d", code)
	}
	snd, err := s.NewSender(ctx, "amqps://127.0.0.1/messages/devicebound", nil)
	if err != nil {
		t.Fatal(err)
	}
	msg := &goamqp.Message{
		Properties: &goamqp.MessageProperties{
			MessageID: goamqp.UUID{1, 2, 3}, To: ptr("/devices/d1/messages/devicebound"),
			CorrelationID: "corr", ContentType: ptr("application/json"),
		},
		ApplicationProperties: map[string]any{"iothub-ack": "full", "color": "red", "n": int32(3)},
		Data:                  [][]byte{[]byte(`{"on":true}`)},
	}
	if err := snd.Send(ctx, msg, nil); err != nil {
		t.Fatalf("send: %v", err)
	}
	got := f.hub.C2D().Messages("d1")
	if len(got) != 1 {
		t.Fatalf("queued %d messages, want 1", len(got))
	}
	m := got[0]
	if m.MessageID != "01020300-0000-0000-0000-000000000000" || m.CorrelationID != "corr" || m.ContentType != "application/json" ||
		m.Ack != c2d.AckFull || m.Properties["color"] != "red" || m.Properties["n"] != "3" || string(m.Body) != `{"on":true}` {
		t.Fatalf("queued %+v", m)
	}

	// A device that does not exist: rejected with amqp:not-found, nothing queued.
	msg.Properties.To = ptr("/devices/ghost/messages/devicebound")
	if err := snd.Send(ctx, msg, nil); !isCondition(err, "amqp:not-found") {
		t.Fatalf("send to an unknown device: %v, want amqp:not-found", err)
	}
	// No To: rejected.
	msg.Properties.To = nil
	if err := snd.Send(ctx, msg, nil); !isCondition(err, "amqp:invalid-field") {
		t.Fatalf("send without To: %v", err)
	}
	if n := len(f.hub.C2D().Messages("d1")); n != 1 {
		t.Fatalf("%d messages after refused sends, want 1", n)
	}
}

func TestC2DSendWithSASLPlain(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.hub.PutDevice(ctx, "d1", []byte(`{}`), ""); err != nil {
		t.Fatal(err)
	}
	for name, password := range map[string]string{
		"token": f.token("iothubowner", "127.0.0.1"),
		"key":   f.key("iothubowner"),
	} {
		t.Run(name, func(t *testing.T) {
			conn := f.dial(&goamqp.ConnOptions{SASLType: goamqp.SASLTypePlain("iothubowner@sas.root.test", password)})
			snd, err := f.session(conn).NewSender(ctx, "/messages/devicebound", nil)
			if err != nil {
				t.Fatal(err)
			}
			msg := &goamqp.Message{Properties: &goamqp.MessageProperties{To: ptr("/devices/d1/messages/devicebound")}, Data: [][]byte{[]byte(name)}}
			if err := snd.Send(ctx, msg, nil); err != nil {
				t.Fatal(err)
			}
		})
	}
	if n := len(f.hub.C2D().Messages("d1")); n != 2 {
		t.Fatalf("%d messages, want 2", n)
	}
	// A wrong key fails SASL.
	dctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if c, err := goamqp.Dial(dctx, "amqp://"+f.addr, &goamqp.ConnOptions{SASLType: goamqp.SASLTypePlain("iothubowner@sas.root.test", "AAAA")}); err == nil {
		c.Close()
		t.Fatal("SASL PLAIN with a wrong key succeeded")
	}
}

func TestFeedbackReceiver(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.hub.PutDevice(ctx, "d1", []byte(`{}`), ""); err != nil {
		t.Fatal(err)
	}
	conn := f.dial(&goamqp.ConnOptions{SASLType: goamqp.SASLTypePlain("iothubowner@sas.root.test", f.key("iothubowner"))})
	s := f.session(conn)
	rcv, err := s.NewReceiver(ctx, "/messages/serviceBound/feedback", &goamqp.ReceiverOptions{Credit: 10})
	if err != nil {
		t.Fatal(err)
	}
	f.devices.SetOnline("d1", true)
	f.devices.SetAutoAck(true) // the device completes each message at once
	if _, err := f.hub.C2D().Enqueue(ctx, "d1", c2d.Message{MessageID: "m-1", Ack: c2d.AckFull, Body: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	msg, err := rcv.Receive(rctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ct := msg.Properties.ContentType; ct == nil || *ct != c2d.FeedbackContentType {
		t.Fatalf("content type %v", ct)
	}
	body := string(msg.GetData())
	for _, want := range []string{`"originalMessageId":"m-1"`, `"deviceId":"d1"`, `"statusCode":"Success"`} {
		if !strings.Contains(body, want) {
			t.Errorf("feedback %s lacks %s", body, want)
		}
	}
	// Released: the batch comes again; accepted: it is gone.
	if err := rcv.ReleaseMessage(rctx, msg); err != nil {
		t.Fatal(err)
	}
	again, err := rcv.Receive(rctx, nil)
	if err != nil || string(again.GetData()) != body {
		t.Fatalf("after release: %v %s", err, again.GetData())
	}
	if err := rcv.AcceptMessage(rctx, again); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the accepted feedback batch is completed", func() bool { return len(f.hub.C2D().Feedback()) == 0 })

	// File notifications: the receiver attaches, and nothing is delivered.
	if _, err := s.NewReceiver(ctx, "/messages/serviceBound/filenotifications", nil); err != nil {
		t.Fatalf("file notification receiver: %v", err)
	}
}

func TestRedirectAndRefusals(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	conn := f.dial(&goamqp.ConnOptions{SASLType: goamqp.SASLTypePlain("iothubowner@sas.root.test", f.token("iothubowner", "127.0.0.1"))})
	s := f.session(conn)
	rcv, err := s.NewReceiver(ctx, "amqps://127.0.0.1/messages/events/$management", nil)
	if err == nil {
		rctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		_, err = rcv.Receive(rctx, nil)
	}
	var le *goamqp.LinkError
	if !errors.As(err, &le) || le.RemoteErr == nil || le.RemoteErr.Condition != "amqp:link:redirect" {
		t.Fatalf("messages/events: %v, want a redirect", err)
	}
	info := le.RemoteErr.Info
	if info["address"] != "amqps://127.0.0.1:5671/iothub-ehub-test/$management" || info["hostname"] != "127.0.0.1" || info["port"] != int32(5671) {
		t.Fatalf("redirect info %v", info)
	}
	// A service token is no device's credential, and d1 is not registered.
	if _, err := s.NewReceiver(ctx, "/devices/d1/messages/devicebound", nil); !isCondition(err, "amqp:unauthorized-access") {
		t.Fatalf("device-side link: %v", err)
	}
	if _, err := s.NewSender(ctx, "/nowhere", nil); !isCondition(err, "amqp:not-found") {
		t.Fatalf("unknown address: %v", err)
	}
}

func isCondition(err error, cond string) bool {
	var ae *goamqp.Error
	if errors.As(err, &ae) {
		return string(ae.Condition) == cond
	}
	var le *goamqp.LinkError
	if errors.As(err, &le) && le.RemoteErr != nil {
		return string(le.RemoteErr.Condition) == cond
	}
	return false
}

func TestFileNotificationReceiver(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	conn := f.dial(&goamqp.ConnOptions{SASLType: goamqp.SASLTypePlain("service@sas.root.test", f.key("service"))})
	rcv, err := f.session(conn).NewReceiver(ctx, "/messages/serviceBound/filenotifications", &goamqp.ReceiverOptions{Credit: 10})
	if err != nil {
		t.Fatal(err)
	}
	up, err := f.files.Start("d1", "a.txt", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.files.Complete(ctx, "d1", up.CorrelationID, fileupload.Result{IsSuccess: true, StatusCode: 200}); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	msg, err := rcv.Receive(rctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ct := msg.Properties.ContentType; ct == nil || *ct != fileupload.NotificationContentType {
		t.Fatalf("content type %v", ct)
	}
	body := string(msg.GetData())
	for _, want := range []string{`"deviceId":"d1"`, `"blobName":"d1/a.txt"`, `"blobUri":"https://127.0.0.1:10000/devstoreaccount1/fileuploads/d1/a.txt"`, `"blobSizeInBytes":0`, `"enqueuedTimeUtc":`} {
		if !strings.Contains(body, want) {
			t.Errorf("notification %s lacks %s", body, want)
		}
	}
	// Released: it comes again; accepted: it is gone.
	if err := rcv.ReleaseMessage(rctx, msg); err != nil {
		t.Fatal(err)
	}
	again, err := rcv.Receive(rctx, nil)
	if err != nil || string(again.GetData()) != body {
		t.Fatalf("after release: %v %s", err, again.GetData())
	}
	if err := rcv.AcceptMessage(rctx, again); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the accepted notification is completed", func() bool { return len(f.files.Notifications()) == 0 })
}
