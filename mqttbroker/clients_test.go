package mqttbroker

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"
)

const (
	waitFor   = 5 * time.Second        // upper bound for anything expected to happen
	quietWait = 300 * time.Millisecond // how long "nothing arrives" is watched
)

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
	msgs chan paho.Message
	lost chan error
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
	tc := &testClient{msgs: make(chan paho.Message, 64), lost: make(chan error, 1)}
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

// next waits for the next message whose topic starts with prefix; others are skipped.
func (c *testClient) next(t *testing.T, prefix string) paho.Message {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		select {
		case m := <-c.msgs:
			if strings.HasPrefix(m.Topic(), prefix) {
				return m
			}
		case <-deadline:
			t.Fatalf("no message on %s* within %v", prefix, waitFor)
			return nil
		}
	}
}

// nextEach waits for one message per prefix, in any order; others are skipped.
func (c *testClient) nextEach(t *testing.T, prefixes ...string) {
	t.Helper()
	missing := slices.Clone(prefixes)
	deadline := time.After(waitFor)
	for len(missing) > 0 {
		select {
		case m := <-c.msgs:
			if i := slices.IndexFunc(missing, func(p string) bool { return strings.HasPrefix(m.Topic(), p) }); i >= 0 {
				missing = slices.Delete(missing, i, i+1)
			}
		case <-deadline:
			t.Fatalf("no message on %v within %v", missing, waitFor)
		}
	}
}

// quiet asserts that nothing arrives for a while.
func (c *testClient) quiet(t *testing.T) {
	t.Helper()
	select {
	case m := <-c.msgs:
		t.Fatalf("unexpected message on %s: %s", m.Topic(), m.Payload())
	case <-time.After(quietWait):
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

// stillUp asserts the connection survives a while.
func (c *testClient) stillUp(t *testing.T) {
	t.Helper()
	select {
	case err := <-c.lost:
		t.Fatalf("connection lost: %v", err)
	case <-time.After(quietWait):
	}
}

// rawClient speaks MQTT packet by packet, for what paho will not send or
// does not show (MQTT 5, QoS 2, wildcard topics, PUBACK order).
type rawClient struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
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
