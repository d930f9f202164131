package amqphub

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	goamqp "github.com/Azure/go-amqp"

	"github.com/iothub-emulator/iothub-emulator/c2d"
	"github.com/iothub-emulator/iothub-emulator/d2c"
	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
)

func TestDeviceAuth(t *testing.T) {
	f := newDeviceFixture(t)
	keyA := f.register("devA", "")
	keyB := f.register("devB", "")
	keyM := f.register("devA", "modX")
	keyOff := f.register("devOff", "")
	if _, err := f.hub.PutDevice(context.Background(), "devOff", []byte(`{"status":"disabled"}`), "*"); err != nil {
		t.Fatal(err)
	}
	tokenA := f.deviceToken("devA", "", keyA, time.Hour)

	for _, tc := range []struct {
		name     string
		token    string
		putToken int    // put-token status
		address  string // then attached as the device's telemetry sender
		refused  bool
	}{
		{"own token", tokenA, 200, "/devices/devA/messages/events", false},
		{"another device's token", f.deviceToken("devB", "", keyB, time.Hour), 200, "/devices/devA/messages/events", true},
		{"expired", f.deviceToken("devA", "", keyA, -time.Minute), 401, "", false},
		{"bad signature", f.deviceToken("devA", "", keyB, time.Hour), 401, "", false},
		{"disabled device", f.deviceToken("devOff", "", keyOff, time.Hour), 401, "", false},
		{"module token", f.deviceToken("devA", "modX", keyM, time.Hour), 200, "/devices/devA/modules/modX/messages/events", false},
		{"module token on the device", f.deviceToken("devA", "modX", keyM, time.Hour), 200, "/devices/devA/messages/events", true},
		{"policy with DeviceConnect", f.token("iothubowner", "127.0.0.1"), 200, "/devices/devB/messages/events", false},
		{"policy without DeviceConnect", f.token("service", "127.0.0.1"), 200, "/devices/devB/messages/events", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			s := f.session(f.dial(&goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous()}))
			if code := f.putToken(s, "127.0.0.1", tc.token); int(code) != tc.putToken {
				t.Fatalf("put-token status %d, want %d", code, tc.putToken)
			}
			if tc.address == "" {
				return
			}
			snd, err := s.NewSender(ctx, tc.address, nil)
			if err == nil {
				err = snd.Send(ctx, &goamqp.Message{Data: [][]byte{[]byte("x")}}, nil)
			}
			switch {
			case tc.refused && !isCondition(err, "amqp:unauthorized-access"):
				t.Fatalf("attach: %v, want amqp:unauthorized-access", err)
			case !tc.refused && err != nil:
				t.Fatalf("attach: %v", err)
			}
		})
	}

	t.Run("SASL PLAIN", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		s := f.session(f.dial(&goamqp.ConnOptions{SASLType: goamqp.SASLTypePlain("devA@sas.test", tokenA)}))
		snd, err := s.NewSender(ctx, "/devices/devA/messages/events", nil)
		if err == nil {
			err = snd.Send(ctx, &goamqp.Message{Data: [][]byte{[]byte("x")}}, nil)
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.NewReceiver(ctx, "/devices/devB/messages/devicebound", nil); !isCondition(err, "amqp:unauthorized-access") {
			t.Fatalf("devB's link with devA's password: %v", err)
		}
	})
}

func TestDeviceTelemetry(t *testing.T) {
	f := newDeviceFixture(t)
	key := f.register("d1", "")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	s := f.deviceSession(f.deviceToken("d1", "", key, time.Hour))
	// A Plug and Play device announces its model on the link, as Java does.
	const model = "dtmi:com:example:Thermostat;1"
	snd, err := s.NewSender(ctx, "/devices/d1/messages/events", &goamqp.SenderOptions{Properties: map[string]any{"com.microsoft:model-id": model}})
	if err != nil {
		t.Fatal(err)
	}
	if tw, err := f.hub.GetTwin(ctx, "d1", ""); err != nil || tw["modelId"] != model {
		t.Fatalf("twin modelId %v (%v), want %s", tw["modelId"], err, model)
	}
	msg := &goamqp.Message{
		Properties: &goamqp.MessageProperties{
			MessageID: "m-1", CorrelationID: "c-1", ContentType: ptr("application/json"),
			ContentEncoding: ptr("utf-8"), UserID: []byte("u-1"),
		},
		ApplicationProperties: map[string]any{"color": "blue", "n": int32(7)},
		Data:                  [][]byte{[]byte(`{"t":21}`)},
	}
	if err := snd.Send(ctx, msg, nil); err != nil {
		t.Fatal(err)
	}
	// Accepted means stored: the log has it already.
	got := readLog(f)
	if len(got) != 1 {
		t.Fatalf("%d messages in the log, want 1", len(got))
	}
	m := got[0]
	want := map[string]string{
		"message-id": "m-1", "correlation-id": "c-1", "content-type": "application/json",
		"content-encoding": "utf-8", "user-id": "u-1", "iothub-connection-device-id": "d1",
	}
	for k, v := range want {
		if m.SystemProperties[k] != v {
			t.Errorf("system property %s = %q, want %q", k, m.SystemProperties[k], v)
		}
	}
	if m.Properties["color"] != "blue" || m.Properties["n"] != "7" || string(m.Body) != `{"t":21}` {
		t.Errorf("message %+v", m)
	}

	// The back end reads it on the Event Hubs-compatible endpoint.
	c := f.consumer(azeventhubs.DefaultConsumerGroup)
	pc, err := c.NewPartitionClient(fmt.Sprint(d2c.PartitionOf("d1", d2c.DefaultPartitions)),
		&azeventhubs.PartitionClientOptions{StartPosition: azeventhubs.StartPosition{Earliest: ptr(true)}})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close(ctx)
	events, err := pc.ReceiveEvents(ctx, 1, nil)
	if err != nil || len(events) != 1 {
		t.Fatalf("events %v, %v", events, err)
	}
	ev := events[0]
	if ev.RawAMQPMessage.MessageAnnotations["iothub-connection-device-id"] != "d1" || ev.MessageID == nil || *ev.MessageID != "m-1" || ev.Properties["color"] != "blue" {
		t.Errorf("event %+v annotations %v", ev, ev.RawAMQPMessage.MessageAnnotations)
	}

	// A batch (message format 0x80013700) is stored message by message;
	// one that does not decode is refused whole.
	var parts [][]byte
	for i := range 2 {
		inner := &goamqp.Message{Properties: &goamqp.MessageProperties{MessageID: fmt.Sprintf("b-%d", i)}, Data: [][]byte{[]byte("x")}}
		b, err := inner.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, b)
	}
	if err := snd.Send(ctx, &goamqp.Message{Format: batchFormat, Data: parts}, nil); err != nil {
		t.Fatal(err)
	}
	if n := len(readLog(f)); n != 3 {
		t.Fatalf("%d messages after the batch, want 3", n)
	}
	err = snd.Send(ctx, &goamqp.Message{Format: batchFormat, Data: [][]byte{parts[0], []byte("junk")}}, nil)
	var re *goamqp.Error
	if !errors.As(err, &re) {
		t.Fatalf("bad batch: %v, want rejected", err)
	}
	if n := len(readLog(f)); n != 3 {
		t.Fatalf("%d messages after a bad batch, want still 3", n)
	}
}

func TestDeviceC2D(t *testing.T) {
	f := newDeviceFixture(t)
	key := f.register("d1", "")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	q := f.hub.C2D()
	for i := range 3 {
		if _, err := q.Enqueue(ctx, "d1", c2d.Message{MessageID: fmt.Sprintf("m-%d", i), Ack: c2d.AckFull, Body: []byte(fmt.Sprint(i)), Properties: map[string]string{"k": "v"}}); err != nil {
			t.Fatal(err)
		}
	}
	s := f.deviceSession(f.deviceToken("d1", "", key, time.Hour))
	// Manual credit, one message at a time, so each outcome lands before
	// the next message is offered.
	rcv, err := s.NewReceiver(ctx, "/devices/d1/messages/devicebound", &goamqp.ReceiverOptions{Credit: -1})
	if err != nil {
		t.Fatal(err)
	}
	next := func(wantID string) *goamqp.Message {
		t.Helper()
		if err := rcv.IssueCredit(1); err != nil {
			t.Fatal(err)
		}
		m, err := rcv.Receive(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if m.Properties == nil || m.Properties.MessageID != wantID {
			t.Fatalf("got message %v, want %s", m.Properties, wantID)
		}
		return m
	}
	// Released: abandoned, delivered again with its delivery count shared
	// with the queue.
	m := next("m-0")
	if m.ApplicationProperties["k"] != "v" || m.ApplicationProperties["iothub-ack"] != "full" || m.Annotations["x-opt-lock-token"] == nil {
		t.Errorf("message %+v annotations %v", m.ApplicationProperties, m.Annotations)
	}
	if got := q.Messages("d1")[0]; got.DeliveryCount != 1 || got.LockToken == "" {
		t.Fatalf("queued message while held: %+v", got)
	}
	// The outcome is applied as it arrives; wait for it before granting
	// credit, or the next visible message (m-1) could be offered first.
	visible := func(id string) {
		t.Helper()
		testkit.Eventually(t, id+" visible again", func() bool {
			for _, m := range q.Messages("d1") {
				if m.MessageID == id {
					return m.LockToken == ""
				}
			}
			return false
		})
	}
	if err := rcv.ReleaseMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	visible("m-0")
	m = next("m-0")
	if m.Header == nil || m.Header.DeliveryCount != 1 {
		t.Errorf("redelivery header %+v, want delivery-count 1", m.Header)
	}
	// Accepted: completed, positive feedback.
	if err := rcv.AcceptMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	// Rejected: dead-lettered, negative feedback.
	m = next("m-1")
	if err := rcv.RejectMessage(ctx, m, nil); err != nil {
		t.Fatal(err)
	}
	// Modified: abandoned too.
	m = next("m-2")
	if err := rcv.ModifyMessage(ctx, m, &goamqp.ModifyMessageOptions{DeliveryFailed: true}); err != nil {
		t.Fatal(err)
	}
	visible("m-2")
	m = next("m-2")
	testkit.Eventually(t, "feedback for the completed and rejected messages", func() bool {
		fb := q.Feedback()
		return len(fb) == 2 && fb[0].StatusCode == c2d.StatusSuccess && fb[1].StatusCode == c2d.StatusRejected
	})
	if got := q.Messages("d1"); len(got) != 1 || got[0].MessageID != "m-2" || got[0].DeliveryCount != 2 {
		t.Fatalf("queue %+v, want m-2 held after two deliveries", got)
	}
	// A device that leaves without settling gives the message back at once.
	if err := rcv.Close(ctx); err != nil {
		t.Fatal(err)
	}
	_ = m
	visible("m-2")
}

func TestDeviceMethods(t *testing.T) {
	f := newDeviceFixture(t)
	key := f.register("d1", "")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()

	// No methods link: not online.
	if _, _, err := f.srv.InvokeMethod(ctx, "d1", "", "reboot", []byte(`{}`), 0, time.Second); !errcode.Is(err, errcode.DeviceNotOnline) {
		t.Fatalf("offline call: %v", err)
	}

	s := f.deviceSession(f.deviceToken("d1", "", key, time.Hour))
	props := map[string]any{"com.microsoft:channel-correlation-id": "methods:1", "com.microsoft:api-version": "2021-04-12"}
	snd, err := s.NewSender(ctx, "/devices/d1/methods/devicebound", &goamqp.SenderOptions{Properties: props})
	if err != nil {
		t.Fatal(err)
	}
	rcv, err := s.NewReceiver(ctx, "/devices/d1/methods/devicebound", &goamqp.ReceiverOptions{Properties: props})
	if err != nil {
		t.Fatal(err)
	}
	answer := make(chan error, 1)
	go func() {
		req, err := rcv.Receive(ctx, nil)
		if err != nil {
			answer <- err
			return
		}
		_ = rcv.AcceptMessage(ctx, req)
		if req.ApplicationProperties[propMethodName] != "reboot" || string(req.GetData()) != `{"delay":1}` {
			answer <- fmt.Errorf("request %v %s", req.ApplicationProperties, req.GetData())
			return
		}
		answer <- snd.Send(ctx, &goamqp.Message{
			Properties:            &goamqp.MessageProperties{CorrelationID: req.Properties.CorrelationID},
			ApplicationProperties: map[string]any{propMethodStatus: int32(201)},
			Data:                  [][]byte{[]byte(`{"ok":true}`)},
		}, nil)
	}()
	res, err := f.hub.InvokeMethod(ctx, "d1", "", []byte(`{"methodName":"reboot","payload":{"delay":1},"responseTimeoutInSeconds":5}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := <-answer; err != nil {
		t.Fatal(err)
	}
	if res.Status != 201 || string(res.Payload) != `{"ok":true}` {
		t.Fatalf("result %+v %s", res, res.Payload)
	}

	// A device that does not answer: the call times out.
	_, _, err = f.srv.InvokeMethod(ctx, "d1", "", "slow", []byte(`null`), 0, 200*time.Millisecond)
	if !errcode.Is(err, errcode.GatewayTimeout) {
		t.Fatalf("unanswered call: %v", err)
	}
	// An answer without IoThub-status is refused.
	err = snd.Send(ctx, &goamqp.Message{Properties: &goamqp.MessageProperties{CorrelationID: "x"}, Data: [][]byte{[]byte("{}")}}, nil)
	var re *goamqp.Error
	if !errors.As(err, &re) {
		t.Fatalf("answer without status: %v, want rejected", err)
	}
}

func TestDeviceTwin(t *testing.T) {
	f := newDeviceFixture(t)
	key := f.register("d1", "")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	s := f.deviceSession(f.deviceToken("d1", "", key, time.Hour))
	snd, rcv := f.twinLinks(s, "/devices/d1/twin")

	status := func(m *goamqp.Message) any { return m.Annotations["status"] }
	reply, err := twinCall(ctx, snd, rcv, "GET", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if status(reply) != int32(200) || jsonOf(reply.GetData())["desired"] == nil {
		t.Fatalf("GET: %v %s", reply.Annotations, reply.GetData())
	}

	reply, err = twinCall(ctx, snd, rcv, "PATCH", twinResourceReported, []byte(`{"temp":20}`))
	if err != nil {
		t.Fatal(err)
	}
	if status(reply) != int32(204) || reply.Annotations["version"] != int64(2) {
		t.Fatalf("PATCH: %v", reply.Annotations)
	}

	// Malformed requests are answered with errors and change nothing.
	for _, bad := range []struct{ op, resource, body string }{
		{"PATCH", twinResourceReported, `{not json`},
		{"PATCH", "/properties/desired", `{"x":1}`},
		{"", "", ""},
		{"POST", twinResourceReported, `{}`},
	} {
		reply, err = twinCall(ctx, snd, rcv, bad.op, bad.resource, []byte(bad.body))
		if err != nil {
			t.Fatal(err)
		}
		if st, _ := status(reply).(int32); st != 400 || jsonOf(reply.GetData())["errorCode"] == nil {
			t.Errorf("%s %s: %v %s, want 400 with an error body", bad.op, bad.resource, reply.Annotations, reply.GetData())
		}
	}
	tw, err := f.hub.GetTwin(ctx, "d1", "")
	if err != nil {
		t.Fatal(err)
	}
	reported := tw["properties"].(map[string]any)["reported"].(map[string]any)
	if reported["temp"] != float64(20) || reported["$version"] != float64(2) {
		t.Fatalf("reported after bad requests: %v", reported)
	}

	// Desired-property notifications, once subscribed.
	reply, err = twinCall(ctx, snd, rcv, "PUT", twinResourceDesired, nil)
	if err != nil || status(reply) != int32(200) {
		t.Fatalf("subscribe: %v %v", reply, err)
	}
	if _, err := f.hub.UpdateTwin(ctx, "d1", "", []byte(`{"properties":{"desired":{"fan":"on"}}}`), "*", false); err != nil {
		t.Fatal(err)
	}
	note, err := rcv.Receive(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = rcv.AcceptMessage(ctx, note)
	if note.Properties != nil && note.Properties.CorrelationID != nil {
		t.Errorf("notification has correlation-id %v", note.Properties.CorrelationID)
	}
	if d := jsonOf(note.GetData()); d["fan"] != "on" || d["$version"] == nil {
		t.Fatalf("notification %s", note.GetData())
	}

	// Unsubscribed: no more notifications.
	reply, err = twinCall(ctx, snd, rcv, "DELETE", twinResourceDesired, nil)
	if err != nil || status(reply) != int32(200) {
		t.Fatalf("unsubscribe: %v %v", reply, err)
	}
	if _, err := f.hub.UpdateTwin(ctx, "d1", "", []byte(`{"properties":{"desired":{"fan":"off"}}}`), "*", false); err != nil {
		t.Fatal(err)
	}
	quiet, cancelQuiet := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancelQuiet()
	if m, err := rcv.Receive(quiet, nil); err == nil {
		t.Fatalf("notification after unsubscribing: %s", m.GetData())
	}
}

func TestDeviceDisconnectedByHub(t *testing.T) {
	f := newDeviceFixture(t)
	key := f.register("d1", "")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	s := f.deviceSession(f.deviceToken("d1", "", key, time.Hour))
	rcv, err := s.NewReceiver(ctx, "/devices/d1/messages/devicebound", nil)
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the device shows connected", func() bool { return f.srv.Holds("d1", "") })
	dev, err := f.hub.GetDevice(ctx, "d1")
	if err != nil || dev.ConnectionState != "Connected" {
		t.Fatalf("device %+v, %v", dev, err)
	}
	if _, err := f.hub.PutDevice(ctx, "d1", []byte(`{"status":"disabled"}`), "*"); err != nil {
		t.Fatal(err)
	}
	if _, err := rcv.Receive(ctx, nil); err == nil {
		t.Fatal("the link still delivers after the device was disabled")
	}
	testkit.Eventually(t, "the device shows disconnected", func() bool {
		dev, err := f.hub.GetDevice(ctx, "d1")
		return err == nil && dev.ConnectionState == "Disconnected" && !f.srv.Holds("d1", "")
	})
}

func readLog(f *fixture) []d2c.Message {
	msgs, _ := f.log.Read(d2c.Filter{}, 0)
	return msgs
}

func TestDeviceTokenExpiry(t *testing.T) {
	f := newDeviceFixture(t)
	key := f.register("d1", "")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	attach := func(s *goamqp.Session) *goamqp.Receiver {
		t.Helper()
		rcv, err := s.NewReceiver(ctx, "/devices/d1/messages/devicebound", &goamqp.ReceiverOptions{Credit: -1})
		if err != nil {
			t.Fatal(err)
		}
		return rcv
	}
	// One connection lets its token run out; the other renews it first.
	lapsed := f.deviceSession(f.deviceToken("d1", "", key, 2*time.Second))
	renewed := f.deviceSession(f.deviceToken("d1", "", key, 2*time.Second))
	lapsedRcv, renewedRcv := attach(lapsed), attach(renewed)
	if code := f.putToken(renewed, resource("d1", ""), f.deviceToken("d1", "", key, time.Hour)); code != 200 {
		t.Fatalf("renewal put-token %d", code)
	}
	if _, err := lapsedRcv.Receive(ctx, nil); !isCondition(err, "amqp:unauthorized-access") {
		t.Fatalf("link after its token expired: %v, want amqp:unauthorized-access", err)
	}
	// The renewed link still delivers.
	if _, err := f.hub.C2D().Enqueue(ctx, "d1", c2d.Message{MessageID: "after", Body: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if err := renewedRcv.IssueCredit(1); err != nil {
		t.Fatal(err)
	}
	m, err := renewedRcv.Receive(ctx, nil)
	if err != nil || m.Properties.MessageID != "after" {
		t.Fatalf("renewed link: %v, %v", m, err)
	}
}

func TestDeviceX509(t *testing.T) {
	f := newDeviceFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	server := testkit.NewCert(t, "127.0.0.1", nil, testkit.CertOptions{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// As the emulator's 5671: a client certificate is asked for, not required.
	if err := f.srv.Serve(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{server.TLS()}, ClientAuth: tls.RequestClientCert})); err != nil {
		t.Fatal(err)
	}
	cert := testkit.NewCert(t, "x1", nil, testkit.CertOptions{})
	body := fmt.Sprintf(`{"authentication":{"type":"selfSigned","x509Thumbprint":{"primaryThumbprint":%q}}}`, cert.SHA1())
	if _, err := f.hub.PutDevice(ctx, "x1", []byte(body), ""); err != nil {
		t.Fatal(err)
	}
	f.register("other", "")

	for _, tc := range []struct {
		name    string
		cert    *testkit.Cert
		address string
		ok      bool
	}{
		{"registered certificate", cert, "/devices/x1/messages/events", true},
		{"another certificate", testkit.NewCert(t, "x1", nil, testkit.CertOptions{}), "/devices/x1/messages/events", false},
		{"another device's link", cert, "/devices/other/messages/events", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// No SASL layer, as the Node and Java SDKs connect with a certificate.
			c, err := goamqp.Dial(ctx, "amqps://"+ln.Addr().String(), &goamqp.ConnOptions{TLSConfig: &tls.Config{
				InsecureSkipVerify: true, //nolint:gosec // the test's own server certificate
				Certificates:       []tls.Certificate{tc.cert.TLS()},
			}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			snd, err := f.session(c).NewSender(ctx, tc.address, nil)
			if err == nil {
				err = snd.Send(ctx, &goamqp.Message{Data: [][]byte{[]byte("x")}}, nil)
			}
			switch {
			case tc.ok && err != nil:
				t.Fatalf("send: %v", err)
			case !tc.ok && !isCondition(err, "amqp:unauthorized-access"):
				t.Fatalf("send: %v, want amqp:unauthorized-access", err)
			}
		})
	}
	if msgs, _ := f.log.Read(d2c.Filter{DeviceID: "x1"}, 0); len(msgs) != 1 {
		t.Fatalf("%d messages from x1, want 1", len(msgs))
	}
}

func TestModuleOverAMQP(t *testing.T) {
	f := newDeviceFixture(t)
	f.register("d1", "")
	key := f.register("d1", "m1")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	s := f.deviceSession(f.deviceToken("d1", "m1", key, time.Hour))

	// Twin: the module's own.
	snd, rcv := f.twinLinks(s, "/devices/d1/modules/m1/twin")
	if reply, err := twinCall(ctx, snd, rcv, "PATCH", twinResourceReported, []byte(`{"mod":true}`)); err != nil || reply.Annotations["status"] != int32(204) {
		t.Fatalf("module PATCH: %v %v", reply, err)
	}
	tw, err := f.hub.GetTwin(ctx, "d1", "m1")
	if err != nil || tw["properties"].(map[string]any)["reported"].(map[string]any)["mod"] != true {
		t.Fatalf("module twin %v %v", tw, err)
	}
	if dev, _ := f.hub.GetTwin(ctx, "d1", ""); dev["properties"].(map[string]any)["reported"].(map[string]any)["mod"] != nil {
		t.Fatal("the module's patch reached the device twin")
	}

	// Methods reach the module, not its device.
	msnd, err := s.NewSender(ctx, "/devices/d1/modules/m1/methods/devicebound", nil)
	if err != nil {
		t.Fatal(err)
	}
	mrcv, err := s.NewReceiver(ctx, "/devices/d1/modules/m1/methods/devicebound", nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		req, err := mrcv.Receive(ctx, nil)
		if err != nil {
			return
		}
		_ = mrcv.AcceptMessage(ctx, req)
		_ = msnd.Send(ctx, &goamqp.Message{
			Properties:            &goamqp.MessageProperties{CorrelationID: req.Properties.CorrelationID},
			ApplicationProperties: map[string]any{propMethodStatus: int32(200)},
		}, nil)
	}()
	if _, _, err := f.srv.InvokeMethod(ctx, "d1", "", "ping", nil, 0, time.Second); !errcode.Is(err, errcode.DeviceNotOnline) {
		t.Fatalf("device call: %v, want DeviceNotOnline", err)
	}
	status, _, err := f.srv.InvokeMethod(ctx, "d1", "m1", "ping", []byte("null"), 0, 5*time.Second)
	if err != nil || status != 200 {
		t.Fatalf("module call: %d %v", status, err)
	}

	// The Node SDK's module input link: attaches, delivers nothing.
	if _, err := s.NewReceiver(ctx, "/devices/d1/modules/m1/messages/events", nil); err != nil {
		t.Fatalf("module input link: %v", err)
	}
}

func TestDeviceConnectedTwice(t *testing.T) {
	f := newDeviceFixture(t)
	key := f.register("d1", "")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	tok := f.deviceToken("d1", "", key, time.Hour)
	// Both connections are kept, as IoT Hub keeps a device's AMQP
	// connections; the newer one's methods link gets the calls.
	methods := func(s *goamqp.Session, answer int32) *goamqp.Receiver {
		snd, err := s.NewSender(ctx, "/devices/d1/methods/devicebound", nil)
		if err != nil {
			t.Fatal(err)
		}
		rcv, err := s.NewReceiver(ctx, "/devices/d1/methods/devicebound", nil)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				req, err := rcv.Receive(ctx, nil)
				if err != nil {
					return
				}
				_ = rcv.AcceptMessage(ctx, req)
				_ = snd.Send(ctx, &goamqp.Message{
					Properties:            &goamqp.MessageProperties{CorrelationID: req.Properties.CorrelationID},
					ApplicationProperties: map[string]any{propMethodStatus: answer},
				}, nil)
			}
		}()
		return rcv
	}
	older, newer := f.deviceSession(tok), f.deviceSession(tok)
	methods(older, 201)
	newerRcv := methods(newer, 202)
	call := func() int {
		status, _, err := f.srv.InvokeMethod(ctx, "d1", "", "who", nil, 0, 5*time.Second)
		if err != nil {
			return -1 // a call racing the newer link's detach
		}
		return status
	}
	if got := call(); got != 202 {
		t.Fatalf("call answered %d, want the newer connection's 202", got)
	}
	// The newer link gone, the older one answers.
	if err := newerRcv.Close(ctx); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the older connection answers", func() bool { return call() == 201 })
}

func TestDeviceAddressRefusals(t *testing.T) {
	f := newDeviceFixture(t)
	key := f.register("d1", "")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	s := f.deviceSession(f.deviceToken("d1", "", key, time.Hour))
	for _, tc := range []struct {
		name    string
		sender  bool // the device sends on the link
		address string
		cond    string
	}{
		{"unknown endpoint", true, "/devices/d1/bogus", "amqp:not-found"},
		{"no device id", false, "/devices//messages/devicebound", "amqp:not-found"},
		{"receiving on messages/events", false, "/devices/d1/messages/events", "amqp:not-allowed"},
		{"sending on messages/devicebound", true, "/devices/d1/messages/devicebound", "amqp:not-allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.sender {
				var snd *goamqp.Sender
				if snd, err = s.NewSender(ctx, tc.address, nil); err == nil {
					err = snd.Send(ctx, &goamqp.Message{Data: [][]byte{[]byte("x")}}, nil)
				}
			} else {
				var rcv *goamqp.Receiver
				if rcv, err = s.NewReceiver(ctx, tc.address, nil); err == nil {
					_, err = rcv.Receive(ctx, nil)
				}
			}
			if !isCondition(err, tc.cond) {
				t.Fatalf("%s: %v, want %s", tc.address, err, tc.cond)
			}
		})
	}
	if f.srv.Holds("d1", "") {
		t.Fatal("refused links left the device connected")
	}
}
