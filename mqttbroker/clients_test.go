package mqttbroker

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"
)

const waitFor = 5 * time.Second // upper bound for anything expected to happen

// testLogger is silent unless IOTHUB_EMULATOR_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("IOTHUB_EMULATOR_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// startBroker serves hub on a loopback port and returns the address.
func startBroker(t *testing.T, hub Hub) (*Broker, string) {
	t.Helper()
	return startBrokerWith(t, hub, Options{Logger: testLogger()})
}

func startBrokerWith(t testing.TB, hub Hub, opts Options) (*Broker, string) {
	t.Helper()
	b, err := New(hub, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Serve("test", ln); err != nil {
		t.Fatal(err)
	}
	return b, ln.Addr().String()
}

func deviceUsername(clientID string) string {
	return testHost + "/" + clientID + "/?api-version=2021-04-12&DeviceClientType=test%2F1.0"
}

// testClient is a paho client that records everything it receives.
type testClient struct {
	paho.Client
	clientID string
	msgs     chan paho.Message
	lost     chan error
	held     []paho.Message // received during a barrier, not yet read; next reads these first
}

type clientConfig struct {
	clientID, username, password string
	clean                        bool
	protocol                     uint
	manualAck                    bool   // QoS 1 messages are acknowledged only by m.Ack()
	broker                       string // URL; "" means tcp:// the address dialled
}

// deviceConfig is how an SDK connects: clean session off, a valid token.
func deviceConfig(clientID string, key []byte) clientConfig {
	return clientConfig{
		clientID: clientID,
		username: deviceUsername(clientID),
		password: sasToken(testHost, clientID, key, time.Now().Add(time.Hour)),
		protocol: 4,
	}
}

// dial connects and returns the client and its CONNECT token (already done).
func dial(t *testing.T, addr string, cfg clientConfig) (*testClient, *paho.ConnectToken) {
	t.Helper()
	tc := &testClient{clientID: cfg.clientID, msgs: make(chan paho.Message, 64), lost: make(chan error, 1)}
	broker := cfg.broker
	if broker == "" {
		broker = "tcp://" + addr
	}
	opts := paho.NewClientOptions().
		AddBroker(broker).
		SetClientID(cfg.clientID).
		SetUsername(cfg.username).
		SetPassword(cfg.password).
		SetCleanSession(cfg.clean).
		SetProtocolVersion(cfg.protocol).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(waitFor).
		SetWriteTimeout(waitFor).
		SetKeepAlive(60 * time.Second).
		SetAutoAckDisabled(cfg.manualAck).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { tc.msgs <- m }).
		SetConnectionLostHandler(func(_ paho.Client, err error) { tc.lost <- err })
	tc.Client = paho.NewClient(opts)
	tok := tc.Connect().(*paho.ConnectToken)
	if !tok.WaitTimeout(waitFor) {
		t.Fatalf("connect %s: no CONNACK within %v", cfg.clientID, waitFor)
	}
	t.Cleanup(func() { tc.Disconnect(0) })
	return tc, tok
}

// mustDial connects and fails the test unless the CONNACK accepts.
func mustDial(t *testing.T, addr string, cfg clientConfig) *testClient {
	t.Helper()
	c, tok := dial(t, addr, cfg)
	if tok.Error() != nil {
		t.Fatalf("connect %s: %v (return code %d)", cfg.clientID, tok.Error(), tok.ReturnCode())
	}
	return c
}

func (c *testClient) subscribe(t *testing.T, filter string, qos byte) byte {
	t.Helper()
	tok := c.Subscribe(filter, qos, nil)
	if !tok.WaitTimeout(waitFor) {
		t.Fatalf("subscribe %s: no SUBACK", filter)
	}
	if tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
	return tok.(*paho.SubscribeToken).Result()[filter]
}

func (c *testClient) publish(t *testing.T, topic string, qos byte, payload string) {
	t.Helper()
	tok := c.Publish(topic, qos, false, payload)
	if !tok.WaitTimeout(waitFor) {
		t.Fatalf("publish %s: not acknowledged", topic)
	}
	if tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// receive returns the next message, held ones first, or false at deadline.
func (c *testClient) receive(deadline <-chan time.Time) (paho.Message, bool) {
	if len(c.held) > 0 {
		m := c.held[0]
		c.held = c.held[1:]
		return m, true
	}
	select {
	case m := <-c.msgs:
		return m, true
	case <-deadline:
		return nil, false
	}
}

// next waits for the next message whose topic starts with prefix; others are skipped.
func (c *testClient) next(t *testing.T, prefix string) paho.Message {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		m, ok := c.receive(deadline)
		if !ok {
			t.Fatalf("no message on %s* within %v", prefix, waitFor)
		}
		if strings.HasPrefix(m.Topic(), prefix) {
			return m
		}
	}
}

// nextEach waits for one message per prefix, in any order; others are skipped.
func (c *testClient) nextEach(t *testing.T, prefixes ...string) {
	t.Helper()
	missing := slices.Clone(prefixes)
	deadline := time.After(waitFor)
	for len(missing) > 0 {
		m, ok := c.receive(deadline)
		if !ok {
			t.Fatalf("no message on %v within %v", missing, waitFor)
		}
		if i := slices.IndexFunc(missing, func(p string) bool { return strings.HasPrefix(m.Topic(), p) }); i >= 0 {
			missing = slices.Delete(missing, i, i+1)
		}
	}
}

// barrierSeq numbers the barriers' twin request ids and desired versions.
var barrierSeq atomic.Int64

// roundTrip sends a twin GET with a fresh $rid on c's connection and waits
// for its answer, returning the messages that arrived before it. The broker
// handles one connection's packets in order, and answers a twin GET on the
// connection's own goroutine (at once, unless a delayTwin fault queues the
// answer), so by then everything c sent earlier has been handled and
// whatever the broker wrote to c meanwhile has arrived. c must be subscribed
// to $iothub/twin/res/#. A lost connection fails the test.
func (c *testClient) roundTrip(t *testing.T) []paho.Message {
	t.Helper()
	rid := "barrier-" + strconv.FormatInt(barrierSeq.Add(1), 10)
	tok := c.Publish("$iothub/twin/GET/?$rid="+rid, 0, false, " ")
	if !tok.WaitTimeout(waitFor) || tok.Error() != nil {
		t.Fatalf("barrier twin GET not sent: %v", tok.Error())
	}
	var before []paho.Message
	deadline := time.After(waitFor)
	for {
		select {
		case m := <-c.msgs:
			if strings.HasPrefix(m.Topic(), "$iothub/twin/res/") && strings.HasSuffix(m.Topic(), "/?$rid="+rid) {
				return before
			}
			before = append(before, m)
		case err := <-c.lost:
			t.Fatalf("connection lost: %v", err)
		case <-deadline:
			t.Fatalf("barrier twin GET %s not answered within %v", rid, waitFor)
		}
	}
}

// quiet asserts that nothing reached c: no message arrives before the
// answer to a barrier twin GET (roundTrip). It proves nothing about
// publishes the broker queues (notifications, method requests, C2D) from
// other goroutines; quietPushes does.
func (c *testClient) quiet(t *testing.T) {
	t.Helper()
	before := append(c.held, c.roundTrip(t)...)
	c.held = nil
	for _, m := range before {
		t.Errorf("unexpected message on %s: %s", m.Topic(), m.Payload())
	}
	if len(before) > 0 {
		t.FailNow()
	}
}

// quietPushes is quiet, then also for what the broker queues for c: a
// desired notification with a version no twin has is queued behind
// anything queued before it, so nothing may arrive ahead of it. c must be
// subscribed to $iothub/twin/res/# and $iothub/twin/PATCH/properties/desired/#.
func (c *testClient) quietPushes(t *testing.T, b *Broker) {
	t.Helper()
	c.quiet(t)
	version := 1<<40 + barrierSeq.Add(1)
	deviceID, moduleID, _ := strings.Cut(c.clientID, "/")
	b.NotifyDesired(deviceID, moduleID, version, []byte(`{"$version":`+strconv.FormatInt(version, 10)+`}`))
	select {
	case m := <-c.msgs:
		if m.Topic() != desiredTopic(version) {
			t.Fatalf("unexpected message on %s: %s", m.Topic(), m.Payload())
		}
	case err := <-c.lost:
		t.Fatalf("connection lost: %v", err)
	case <-time.After(waitFor):
		t.Fatalf("barrier desired notification %d not received within %v", version, waitFor)
	}
}

// quietByMethod asserts that nothing reached c, for a client that must
// not be subscribed to twin responses or desired notifications (it cannot
// use quiet or quietPushes): it subscribes c to direct methods and makes a
// method request the barrier. The SUBACK is written only once every packet
// c sent before has been handled, and the request is queued behind
// whatever was queued for c before it, so nothing may arrive ahead of it.
func (c *testClient) quietByMethod(t *testing.T, b *Broker) {
	t.Helper()
	c.subscribe(t, filterMethods, 1)
	deviceID, moduleID, _ := strings.Cut(c.clientID, "/")
	call := invokeAsync(context.Background(), b, deviceID, moduleID, "barrier", "{}", 0, waitFor)
	m, ok := c.receive(time.After(waitFor))
	if !ok {
		t.Fatalf("barrier method request not received within %v", waitFor)
	}
	if !strings.HasPrefix(m.Topic(), "$iothub/methods/POST/barrier/") {
		t.Fatalf("unexpected message on %s: %s", m.Topic(), m.Payload())
	}
	req := parseRequestTopic(t, m.Topic(), m.Payload())
	respond(t, c, 200, req.rid, "{}")
	if r := awaitCall(t, call); r.err != nil {
		t.Fatalf("barrier method call: %v", r.err)
	}
}

// waitLost waits for the server to drop the connection.
func (c *testClient) waitLost(t *testing.T) {
	t.Helper()
	select {
	case <-c.lost:
	case <-time.After(waitFor):
		t.Fatalf("connection not closed within %v", waitFor)
	}
}

// stillUp asserts the connection survived everything c sent before: the
// broker still answers a barrier twin GET (roundTrip) after them. Messages
// that arrive meanwhile are kept for next. c must be subscribed to
// $iothub/twin/res/#.
func (c *testClient) stillUp(t *testing.T) {
	t.Helper()
	c.held = append(c.held, c.roundTrip(t)...)
	select {
	case err := <-c.lost:
		t.Fatalf("connection lost: %v", err)
	default:
	}
}

// rawClient speaks MQTT packet by packet, for what paho will not send or
// does not show (MQTT 5, QoS 2, wildcard topics, PUBACK order).
type rawClient struct {
	t        *testing.T
	conn     net.Conn
	r        *bufio.Reader
	clientID string // set by connectDevice
}

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, waitFor)
	if err != nil {
		t.Fatal(err)
	}
	return newRawClient(t, conn)
}

func newRawClient(t *testing.T, conn net.Conn) *rawClient {
	t.Cleanup(func() { _ = conn.Close() })
	return &rawClient{t: t, conn: conn, r: bufio.NewReader(conn)}
}

// connectDevice connects with a valid token and fails unless accepted.
func (c *rawClient) connectDevice(clientID string, key []byte) {
	c.t.Helper()
	if code := c.connect(4, clientID, deviceUsername(clientID), sasToken(testHost, clientID, key, time.Now().Add(time.Hour))); code != 0 {
		c.t.Fatalf("CONNACK = %d, want 0", code)
	}
	c.clientID = clientID
}

// settle publishes QoS 1 telemetry with packet id id and reads its PUBACK,
// which must be the next packet. The broker handles one connection's
// packets in order, so by then every packet sent earlier has been handled,
// and anything the broker wrote on its way (a publish, a replay) would
// have been read first and failed the test.
func (c *rawClient) settle(id uint16) {
	c.t.Helper()
	deviceID, moduleID, _ := strings.Cut(c.clientID, "/")
	topic := "devices/" + deviceID + "/messages/events/"
	if moduleID != "" {
		topic = "devices/" + deviceID + "/modules/" + moduleID + "/messages/events/"
	}
	c.publish(topic, 1, id, "barrier")
	if ack := c.mustRead(packets.Puback); ack.PacketID != id {
		c.t.Fatalf("PUBACK for packet %d, want the barrier's %d", ack.PacketID, id)
	}
}

func (c *rawClient) subscribe(id uint16, filters ...string) {
	c.t.Helper()
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: id}
	for _, f := range filters {
		pk.Filters = append(pk.Filters, packets.Subscription{Filter: f, Qos: 1})
	}
	c.send(pk)
}

func (c *rawClient) send(pk packets.Packet) {
	c.t.Helper()
	if pk.ProtocolVersion == 0 {
		pk.ProtocolVersion = 4
	}
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&buf)
	case packets.Publish:
		err = pk.PublishEncode(&buf)
	case packets.Subscribe:
		err = pk.SubscribeEncode(&buf)
	case packets.Puback:
		err = pk.PubackEncode(&buf)
	case packets.Disconnect:
		err = pk.DisconnectEncode(&buf)
	default:
		err = fmt.Errorf("rawClient cannot send packet type %d", pk.FixedHeader.Type)
	}
	if err != nil {
		c.t.Fatal(err)
	}
	_ = c.conn.SetWriteDeadline(time.Now().Add(waitFor))
	if _, err := c.conn.Write(buf.Bytes()); err != nil {
		c.t.Fatalf("raw write: %v", err)
	}
}

// read returns the next packet, or the read error (io.EOF once closed).
func (c *rawClient) read(timeout time.Duration) (packets.Packet, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
	var pk packets.Packet
	b, err := c.r.ReadByte()
	if err != nil {
		return pk, err
	}
	if err := pk.FixedHeader.Decode(b); err != nil {
		return pk, err
	}
	n, _, err := packets.DecodeLength(c.r)
	if err != nil {
		return pk, err
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c.r, body); err != nil {
		return pk, err
	}
	pk.ProtocolVersion = 4
	switch pk.FixedHeader.Type {
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Publish:
		err = pk.PublishDecode(body)
	case packets.Puback:
		err = pk.PubackDecode(body)
	case packets.Suback:
		err = pk.SubackDecode(body)
	}
	return pk, err
}

func (c *rawClient) mustRead(typ byte) packets.Packet {
	c.t.Helper()
	pk, err := c.read(waitFor)
	if err != nil {
		c.t.Fatalf("reading packet type %d: %v", typ, err)
	}
	if pk.FixedHeader.Type != typ {
		c.t.Fatalf("got packet type %d, want %d", pk.FixedHeader.Type, typ)
	}
	return pk
}

// connect sends a CONNECT and returns the CONNACK return code.
func (c *rawClient) connect(version byte, clientID, username, password string) byte {
	c.t.Helper()
	name := []byte("MQTT")
	if version == 3 {
		name = []byte("MQIsdp")
	}
	c.send(packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Connect},
		ProtocolVersion: version,
		Connect: packets.ConnectParams{
			ProtocolName:     name,
			ClientIdentifier: clientID,
			Keepalive:        60,
			UsernameFlag:     true,
			Username:         []byte(username),
			PasswordFlag:     password != "",
			Password:         []byte(password),
		},
	})
	_ = c.conn.SetReadDeadline(time.Now().Add(waitFor))
	pk, err := c.read(waitFor)
	if err != nil {
		c.t.Fatalf("no CONNACK: %v", err)
	}
	if pk.FixedHeader.Type != packets.Connack {
		c.t.Fatalf("got packet type %d, want CONNACK", pk.FixedHeader.Type)
	}
	return pk.ReasonCode
}

func (c *rawClient) publish(topic string, qos byte, id uint16, payload string) {
	c.t.Helper()
	c.send(packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos},
		TopicName:   topic,
		PacketID:    id,
		Payload:     []byte(payload),
	})
}

// expectClosed reads until the server closes the connection; packets before
// that (a DISCONNECT, say) are skipped.
func (c *rawClient) expectClosed() {
	c.t.Helper()
	deadline := time.Now().Add(waitFor)
	for time.Now().Before(deadline) {
		_, err := c.read(time.Until(deadline))
		var ne net.Error
		switch {
		case err == nil:
			continue
		case errors.As(err, &ne) && ne.Timeout():
			c.t.Fatalf("connection still open after %v", waitFor)
		default:
			return
		}
	}
	c.t.Fatalf("connection still open after %v", waitFor)
}

// hourAhead is a token expiry an hour ahead.
func hourAhead() time.Time { return time.Now().Add(time.Hour) }
