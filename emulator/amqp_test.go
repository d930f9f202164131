package emulator

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	goamqp "github.com/Azure/go-amqp"
	"github.com/gorilla/websocket"

	"github.com/iothub-emulator/iothub-emulator/internal/wsconn"
	"github.com/iothub-emulator/iothub-emulator/sas"
)

func (e *Emulator) tlsClientConfig(t testing.TB) *tls.Config {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(e.CAPEM()) {
		t.Fatal("no CA")
	}
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}

// TestEventHubsEndpointOverAMQPS reads an MQTT device's telemetry with
// azeventhubs over TLS, using the connection string the emulator prints.
func TestEventHubsEndpointOverAMQPS(t *testing.T) {
	e := start(t, t.TempDir(), true)
	svc := newService(t, e)
	key := svc.createDevice("sensor")
	d, err := dialDevice(t, e, "sensor", key, true)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		d.publish("devices/sensor/messages/events/n="+fmt.Sprint(i), fmt.Sprintf(`{"t":%d}`, i))
	}
	cs := e.EventHubsConnectionString("iothubowner", false)
	if !strings.HasPrefix(cs, "Endpoint=sb://127.0.0.1:") || !strings.Contains(cs, ";EntityPath=iothub-ehub-iothub-emulator") {
		t.Fatalf("connection string %q", cs)
	}
	c, err := azeventhubs.NewConsumerClientFromConnectionString(cs, "", azeventhubs.DefaultConsumerGroup,
		&azeventhubs.ConsumerClientOptions{TLSConfig: e.tlsClientConfig(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 3*wait)
	defer cancel()
	props, err := c.GetEventHubProperties(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, id := range props.PartitionIDs {
		pc, err := c.NewPartitionClient(id, &azeventhubs.PartitionClientOptions{StartPosition: azeventhubs.StartPosition{Earliest: ptrTo(true)}})
		if err != nil {
			t.Fatal(err)
		}
		pp, err := c.GetPartitionProperties(ctx, id, nil)
		if err != nil {
			t.Fatal(err)
		}
		if pp.IsEmpty {
			pc.Close(ctx)
			continue
		}
		for len(got) < 3 {
			evs, err := pc.ReceiveEvents(ctx, 3-len(got), nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range evs {
				if ev.SystemProperties["iothub-connection-device-id"] != "sensor" {
					t.Errorf("event from %v", ev.SystemProperties["iothub-connection-device-id"])
				}
				got = append(got, string(ev.Body)+" n="+fmt.Sprint(ev.Properties["n"]))
			}
		}
		pc.Close(ctx)
	}
	if want := `[{"t":0} n=0 {"t":1} n=1 {"t":2} n=2]`; fmt.Sprint(got) != want {
		t.Fatalf("events %v, want %s", got, want)
	}
}

// TestC2DOverAMQPWebSockets sends a cloud-to-device message as the Node
// service SDK's AmqpWs transport does: AMQP over a WebSocket on the HTTPS
// port, no SASL, a CBS token.
func TestC2DOverAMQPWebSockets(t *testing.T) {
	e := start(t, t.TempDir(), true)
	svc := newService(t, e)
	key := svc.createDevice("d1")
	dev, err := dialDevice(t, e, "d1", key, true)
	if err != nil {
		t.Fatal(err)
	}
	dev.subscribe("devices/d1/messages/devicebound/#")

	dialer := websocket.Dialer{TLSClientConfig: e.tlsClientConfig(t), Subprotocols: []string{"AMQPWSB10"}, HandshakeTimeout: wait}
	ws, resp, err := dialer.Dial("wss://"+e.Addr(HTTPS)+WebSocketPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || ws.Subprotocol() != "AMQPWSB10" {
		t.Fatalf("upgrade: %d %q", resp.StatusCode, ws.Subprotocol())
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	conn, err := goamqp.NewConn(ctx, wsconn.New(ws, nil), &goamqp.ConnOptions{HostName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	s, err := conn.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	cs, _ := sas.ParseConnectionString(e.ConnectionString("service"))
	tok, _ := sas.NewToken(cs.HostName, cs.SharedAccessKey, cs.SharedAccessKeyName, time.Now().Add(time.Hour))
	putToken(t, s, cs.HostName, tok)
	snd, err := s.NewSender(ctx, "/messages/devicebound", nil)
	if err != nil {
		t.Fatal(err)
	}
	msg := &goamqp.Message{
		Properties:            &goamqp.MessageProperties{MessageID: "ws-1", To: ptrTo("/devices/d1/messages/devicebound")},
		ApplicationProperties: map[string]any{"k": "v"},
		Data:                  [][]byte{[]byte("over websockets")},
	}
	if err := snd.Send(ctx, msg, nil); err != nil {
		t.Fatal(err)
	}
	m := dev.await("devices/d1/messages/devicebound/")
	if string(m.Payload()) != "over websockets" || !strings.Contains(m.Topic(), "k=v") || !strings.Contains(m.Topic(), "%24.mid=ws-1") {
		t.Fatalf("device got %s: %s", m.Topic(), m.Payload())
	}
}

func putToken(t testing.TB, s *goamqp.Session, audience, token string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	snd, err := s.NewSender(ctx, "$cbs", nil)
	if err != nil {
		t.Fatal(err)
	}
	rcv, err := s.NewReceiver(ctx, "$cbs", &goamqp.ReceiverOptions{TargetAddress: "cbs"})
	if err != nil {
		t.Fatal(err)
	}
	err = snd.Send(ctx, &goamqp.Message{
		Properties:            &goamqp.MessageProperties{MessageID: "put-1", ReplyTo: ptrTo("cbs")},
		ApplicationProperties: map[string]any{"operation": "put-token", "type": "servicebus.windows.net:sastoken", "name": audience},
		Value:                 token,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	reply, err := rcv.Receive(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if code := reply.ApplicationProperties["status-code"]; code != int32(200) || reply.Properties.CorrelationID != "put-1" {
		t.Fatalf("put-token: status %v, correlation %v", code, reply.Properties.CorrelationID)
	}
}

func ptrTo[T any](v T) *T { return &v }
