package emulator

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"

	"github.com/iothub-emulator/iothub-emulator/sas"
)

// TestDeviceSwitchesBetweenMQTTAndAMQP: one identity, one twin, one
// cloud-to-device queue and one method target, whichever transport the
// device uses, in the wired emulator.
func TestDeviceSwitchesBetweenMQTTAndAMQP(t *testing.T) {
	e := start(t, t.TempDir(), true)
	svc := newService(t, e)
	key := svc.createDevice("sw")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()

	// Over MQTT: a reported property; then the device leaves.
	d, err := dialDevice(t, e, "sw", key, true)
	if err != nil {
		t.Fatal(err)
	}
	d.subscribe("$iothub/twin/res/#")
	d.publish("$iothub/twin/PATCH/properties/reported/?$rid=1", `{"via":"mqtt"}`)
	d.await("$iothub/twin/res/204/")
	d.client.Disconnect(100)
	if st := svc.do("POST", "/emulator/devices/sw/messages/devicebound", map[string]any{"body": "queued", "messageId": "m1"}, nil); st != 200 {
		t.Fatalf("send: %d", st)
	}

	// Over AMQPS: the same twin, the same queue, the methods.
	conn, err := goamqp.Dial(ctx, "amqps://"+e.Addr(AMQPS), &goamqp.ConnOptions{TLSConfig: e.tlsClientConfig(t), SASLType: goamqp.SASLTypeAnonymous()})
	if err != nil {
		t.Fatal(err)
	}
	s, err := conn.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	cs, _ := sas.ParseConnectionString(e.ConnectionString("service"))
	resource := cs.HostName + "/devices/sw"
	tok, _ := sas.NewToken(resource, key, "", time.Now().Add(time.Hour))
	putToken(t, s, resource, tok)

	twinSnd, err := s.NewSender(ctx, "/devices/sw/twin", nil)
	if err != nil {
		t.Fatal(err)
	}
	twinRcv, err := s.NewReceiver(ctx, "/devices/sw/twin", nil)
	if err != nil {
		t.Fatal(err)
	}
	twin := func(op, resource, body, corr string) *goamqp.Message {
		t.Helper()
		m := &goamqp.Message{Annotations: goamqp.Annotations{"operation": op}, Properties: &goamqp.MessageProperties{CorrelationID: corr}}
		if resource != "" {
			m.Annotations["resource"] = resource
		}
		if body != "" {
			m.Data = [][]byte{[]byte(body)}
		}
		if err := twinSnd.Send(ctx, m, nil); err != nil {
			t.Fatal(err)
		}
		reply, err := twinRcv.Receive(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = twinRcv.AcceptMessage(ctx, reply)
		if reply.Properties.CorrelationID != corr {
			t.Fatalf("reply to %v, want %s", reply.Properties.CorrelationID, corr)
		}
		return reply
	}
	var got struct{ Reported map[string]any }
	if err := json.Unmarshal(twin("GET", "", "", "g1").GetData(), &got); err != nil || got.Reported["via"] != "mqtt" {
		t.Fatalf("twin over AMQP: %v %v", got, err)
	}
	if r := twin("PATCH", "/properties/reported", `{"via":"amqp"}`, "p1"); r.Annotations["status"] != int32(204) {
		t.Fatalf("PATCH: %v", r.Annotations)
	}

	c2dRcv, err := s.NewReceiver(ctx, "/devices/sw/messages/devicebound", nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := c2dRcv.Receive(ctx, nil)
	if err != nil || string(m.GetData()) != "queued" {
		t.Fatalf("c2d over AMQP: %v %v", m, err)
	}
	if err := c2dRcv.ReleaseMessage(ctx, m); err != nil { // abandoned: MQTT gets it below
		t.Fatal(err)
	}

	methSnd, err := s.NewSender(ctx, "/devices/sw/methods/devicebound", nil)
	if err != nil {
		t.Fatal(err)
	}
	methRcv, err := s.NewReceiver(ctx, "/devices/sw/methods/devicebound", nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		req, err := methRcv.Receive(ctx, nil)
		if err != nil {
			return
		}
		_ = methRcv.AcceptMessage(ctx, req)
		_ = methSnd.Send(ctx, &goamqp.Message{
			Properties:            &goamqp.MessageProperties{CorrelationID: req.Properties.CorrelationID},
			ApplicationProperties: map[string]any{"IoThub-status": int32(200)},
			Data:                  [][]byte{[]byte(`"over amqp"`)},
		}, nil)
	}()
	var res map[string]any
	if st := svc.do("POST", "/twins/sw/methods", map[string]any{"methodName": "where", "responseTimeoutInSeconds": 5}, &res); st != 200 || res["payload"] != "over amqp" {
		t.Fatalf("method over AMQP: %d %v", st, res)
	}
	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}

	// Back over MQTT: the message AMQP gave back, the twin AMQP wrote.
	d, err = dialDevice(t, e, "sw", key, true)
	if err != nil {
		t.Fatal(err)
	}
	d.subscribe("devices/sw/messages/devicebound/#")
	if m := d.await("devices/sw/messages/devicebound/"); string(m.Payload()) != "queued" {
		t.Fatalf("c2d over MQTT: %s", m.Payload())
	}
	if rep := svc.twin("sw")["properties"].(map[string]any)["reported"].(map[string]any); rep["via"] != "amqp" {
		t.Fatalf("reported %v", rep)
	}
}
