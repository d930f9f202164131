package mqttbroker

import (
	"bytes"
	"context"
	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mochi-mqtt/server/v2/packets"
)

const wsPath = "/$iothub/websocket"

// startWebSocket serves hub's broker over WebSockets only, as the emulator's
// HTTPS server will, and returns the ws:// URL.
func startWebSocket(t *testing.T, hub Hub) (*Broker, string) {
	t.Helper()
	b, err := New(hub, Options{Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(wsPath, b.WebSocketHandler("websocket"))
	srv := httptest.NewServer(mux) // loopback, port 0
	t.Cleanup(func() {
		_ = b.Close()
		srv.Close()
	})
	return b, "ws" + strings.TrimPrefix(srv.URL, "http") + wsPath
}

func dialWS(t *testing.T, url string, subprotocols ...string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: waitFor, Subprotocols: subprotocols}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	ws, resp, err := d.DialContext(ctx, url, nil)
	if ws != nil {
		t.Cleanup(func() { _ = ws.Close() })
	}
	return ws, resp, err
}

func TestWebSocketDevice(t *testing.T) {
	hub := newFakeHub()
	key := hub.add("dev1")
	hub.setDesired("dev1", "color", "blue")
	b, url := startWebSocket(t, hub)

	cfg := deviceConfig("dev1", key)
	cfg.broker = url
	c := mustDial(t, "", cfg)
	if !b.IsConnected("dev1", "") {
		t.Fatal("not connected after CONNACK")
	}

	c.subscribe(t, filterTwinResponses, 1)
	if doc := getTwin(t, c, "ws-1"); doc.Desired["color"] != "blue" {
		t.Fatalf("twin over websocket: %v", doc.Desired)
	}

	c.subscribe(t, filterMethods, 1)
	call := invokeAsync(context.Background(), b, "dev1", "", "reboot", `{"in":1}`, 0, waitFor)
	req := nextRequest(t, c)
	if req.name != "reboot" || req.payload != `{"in":1}` {
		t.Fatalf("request %+v", req)
	}
	respond(t, c, 200, req.rid, `{"out":2}`)
	if r := awaitCall(t, call); r.err != nil || r.status != 200 || string(r.body) != `{"out":2}` {
		t.Fatalf("method over websocket: %+v", r)
	}

	c.Disconnect(250)
	testkit.EventuallyWithin(t, waitFor, "disconnected", func() bool { return !b.IsConnected("dev1", "") })
}

func TestWebSocketRefusesOtherRequests(t *testing.T) {
	_, url := startWebSocket(t, newFakeHub())
	httpURL := "http" + strings.TrimPrefix(url, "ws")
	client := &http.Client{Timeout: waitFor}

	for _, method := range []string{http.MethodGet, http.MethodPost} {
		req, err := http.NewRequest(method, httpURL, strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s without upgrade: status %d, want 400", method, resp.StatusCode)
		}
	}

	_, resp, err := dialWS(t, url, "AMQPWSB10")
	if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("AMQP subprotocol: err %v, response %v; want 400", err, resp)
	}
}

func TestWebSocketSubprotocols(t *testing.T) {
	hub := newFakeHub()
	key := hub.add("dev1")
	_, url := startWebSocket(t, hub)
	tests := []struct {
		offered []string
		want    string
	}{
		{[]string{"mqtt"}, "mqtt"},
		{[]string{"mqttv3.1"}, "mqttv3.1"},
		{[]string{"mqttv3.1", "mqtt"}, "mqtt"},
		{[]string{"other", "mqtt"}, "mqtt"},
		{nil, ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.offered, ","), func(t *testing.T) {
			ws, _, err := dialWS(t, url, tt.offered...)
			if err != nil {
				t.Fatal(err)
			}
			if got := ws.Subprotocol(); got != tt.want {
				t.Errorf("subprotocol %q, want %q", got, tt.want)
			}
			c := newRawClient(t, newWSConn(ws))
			c.connectDevice("dev1", key)
			c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}})
			c.expectClosed()
		})
	}
}

func encodePacket(t *testing.T, pk packets.Packet) []byte {
	t.Helper()
	pk.ProtocolVersion = 4
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&buf)
	case packets.Subscribe:
		err = pk.SubscribeEncode(&buf)
	case packets.Publish:
		err = pk.PublishEncode(&buf)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// MQTT packets and WebSocket messages need not line up: a packet may span
// messages, and a message may hold several packets.
func TestWebSocketFraming(t *testing.T) {
	hub := newFakeHub()
	key := hub.add("dev1")
	_, url := startWebSocket(t, hub)
	ws, _, err := dialWS(t, url, "mqtt")
	if err != nil {
		t.Fatal(err)
	}
	connect := encodePacket(t, packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Connect},
		ProtocolVersion: 4,
		Connect: packets.ConnectParams{
			ProtocolName: []byte("MQTT"), ClientIdentifier: "dev1", Keepalive: 60,
			UsernameFlag: true, Username: []byte(deviceUsername("dev1")),
			PasswordFlag: true, Password: []byte(sasToken(testHost, "dev1", key, hourAhead())),
		},
	})
	subscribe := encodePacket(t, packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1,
		Filters: packets.Subscriptions{{Filter: filterTwinResponses, Qos: 1}},
	})
	get := encodePacket(t, packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: 2,
		TopicName: "$iothub/twin/GET/?$rid=frames", Payload: []byte(" "),
	})

	// CONNECT in three messages, one of them a single byte.
	for _, part := range [][]byte{connect[:1], connect[1:10], connect[10:]} {
		if err := ws.WriteMessage(websocket.BinaryMessage, part); err != nil {
			t.Fatal(err)
		}
	}
	c := newRawClient(t, newWSConn(ws))
	if ack := c.mustRead(packets.Connack); ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %d", ack.ReasonCode)
	}
	// SUBSCRIBE and the GET in one message, the GET's tail in the next.
	both := append(append([]byte(nil), subscribe...), get...)
	cut := len(both) - 3
	if err := ws.WriteMessage(websocket.BinaryMessage, both[:cut]); err != nil {
		t.Fatal(err)
	}
	if err := ws.WriteMessage(websocket.BinaryMessage, both[cut:]); err != nil {
		t.Fatal(err)
	}
	c.mustRead(packets.Suback)
	if ack := c.mustRead(packets.Puback); ack.PacketID != 2 {
		t.Fatalf("PUBACK id %d", ack.PacketID)
	}
	if res := c.mustRead(packets.Publish); res.TopicName != "$iothub/twin/res/200/?$rid=frames" {
		t.Fatalf("response topic %q", res.TopicName)
	}
}

func TestWebSocketTextFrameClosesConnection(t *testing.T) {
	hub := newFakeHub()
	key := hub.add("dev1")
	b, url := startWebSocket(t, hub)
	ws, _, err := dialWS(t, url, "mqtt")
	if err != nil {
		t.Fatal(err)
	}
	c := newRawClient(t, newWSConn(ws))
	c.connectDevice("dev1", key)
	if err := ws.WriteMessage(websocket.TextMessage, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	c.expectClosed()
	testkit.EventuallyWithin(t, waitFor, "disconnected", func() bool { return b.ConnectedCount() == 0 })
}

func TestWebSocketClosedWithBroker(t *testing.T) {
	hub := newFakeHub()
	key := hub.add("dev1")
	b, url := startWebSocket(t, hub)
	ws, _, err := dialWS(t, url, "mqtt")
	if err != nil {
		t.Fatal(err)
	}
	c := newRawClient(t, newWSConn(ws))
	c.connectDevice("dev1", key)
	done := make(chan error, 1)
	go func() { done <- b.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitFor):
		t.Fatal("Close did not return")
	}
	c.expectClosed()

	// Upgrades after Close are refused.
	_, resp, err := dialWS(t, url, "mqtt")
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("after Close: err %v, response %v; want 503", err, resp)
	}
}

func TestWSConnReadsAcrossMessages(t *testing.T) {
	_, url := startEchoWS(t)
	ws, _, err := dialWS(t, url)
	if err != nil {
		t.Fatal(err)
	}
	conn := newWSConn(ws)
	for _, msg := range []string{"ab", "", "cdef", "g"} {
		if _, err := conn.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	_ = conn.SetDeadline(time.Now().Add(waitFor))
	got := make([]byte, 7)
	if _, err := io.ReadFull(conn, got); err != nil || string(got) != "abcdefg" {
		t.Fatalf("read %q, %v", got, err)
	}
	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}
	_, err1 := conn.Read(got)
	if err1 == nil {
		t.Fatal("read after Close succeeded")
	}
	// The error sticks rather than reading the failed websocket again.
	if _, err2 := conn.Read(got); err2 != err1 {
		t.Fatalf("second read after Close: %v, want %v again", err2, err1)
	}
}

// startEchoWS serves a websocket that echoes binary messages back.
func startEchoWS(t *testing.T) (*httptest.Server, string) {
	t.Helper()
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		_ = ws.SetReadDeadline(time.Now().Add(waitFor))
		for {
			typ, msg, err := ws.ReadMessage()
			if err != nil {
				return
			}
			if err := ws.WriteMessage(typ, msg); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv, "ws" + strings.TrimPrefix(srv.URL, "http")
}
