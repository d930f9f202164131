package mqttbroker

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/iothub-emulator/iothub-emulator/certs"
	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
)

// logCapture records what a logger is given, for tests that check a line
// was (or was not) written.
type logCapture struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (c *logCapture) logger() *slog.Logger { return slog.New(captureHandler{c}) }

// count is how many records at level have a message containing text.
func (c *logCapture) count(level slog.Level, text string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, r := range c.recs {
		if r.Level == level && strings.Contains(r.Message, text) {
			n++
		}
	}
	return n
}

type captureHandler struct{ c *logCapture }

func (captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h captureHandler) Handle(_ context.Context, r slog.Record) error {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	h.c.recs = append(h.c.recs, r.Clone())
	return nil
}
func (h captureHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h captureHandler) WithGroup(string) slog.Handler      { return h }

// expectWarning waits (briefly: the line may come as the connection ends)
// for exactly one warning containing text.
func expectWarning(t *testing.T, logs *logCapture, text string) {
	t.Helper()
	testkit.Eventually(t, "warning "+text, func() bool { return logs.count(slog.LevelWarn, text) > 0 })
	if n := logs.count(slog.LevelWarn, text); n != 1 {
		t.Fatalf("%d warnings %q, want 1", n, text)
	}
}

// startTLSBroker serves hub over TLS as the emulator's MQTTS port does,
// asking for (not requiring) a client certificate, and returns the address
// and a client configuration that trusts it.
func startTLSBroker(t *testing.T, hub Hub, log *slog.Logger) (*Broker, string, *tls.Config) {
	t.Helper()
	bundle, err := certs.LoadOrCreate("", []string{"localhost"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	conf := bundle.TLSConfig()
	conf.ClientAuth = tls.RequestClientCert
	b, err := New(hub, Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Serve("mqtts", tls.NewListener(ln, conf)); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(bundle.CAPEM)
	return b, ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "localhost"}
}

// selfSignedCert is a device certificate as an X.509 device would present.
func selfSignedCert(t *testing.T, cn string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func dialTLS(t *testing.T, addr string, conf *tls.Config) *rawClient {
	t.Helper()
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: waitFor}, Config: conf}
	conn, err := d.DialContext(t.Context(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return newRawClient(t, conn)
}

// A Device Provisioning Service client is told DPS is not supported, with
// CONNACK 4 (bad user name); IoT Hub usernames that merely look alike are
// not.
func TestDPSClientRefused(t *testing.T) {
	var logs logCapture
	hub := newFakeHub()
	hub.add("reg1")
	_, addr := startBrokerWith(t, hub, Options{Logger: logs.logger()})
	c := dialRaw(t, addr)
	username := "0ne00ABCDEF/registrations/reg1/api-version=2019-03-31&ClientVersion=azure-iot-provisioning-devicesdk%2F1.0"
	if code := c.connect(4, "reg1", username, "SharedAccessSignature sr=0ne00ABCDEF%2Fregistrations%2Freg1&sig=x&se=1&skn=registration"); code != 4 {
		t.Fatalf("CONNACK %d, want 4", code)
	}
	expectWarning(t, &logs, unsupportedDPS)
}

func TestIsDPSUsername(t *testing.T) {
	tests := []struct {
		username, clientID string
		want               bool
	}{
		{"0ne00ABCDEF/registrations/reg1/api-version=2019-03-31", "reg1", true},
		{"0ne00ABCDEF/registrations/reg1/api-version=2019-03-31&ClientVersion=x", "reg1", true},
		{"0ne00ABCDEF/registrations/other/api-version=2019-03-31", "reg1", false},
		// IoT Hub usernames for identities named "registrations".
		{"hub.local/registrations/?api-version=2021-04-12", "registrations", false},
		{"hub.local/registrations/mod/?api-version=2021-04-12", "registrations/mod", false},
		{"hub.local/reg1/?api-version=2021-04-12", "reg1", false},
		{"/registrations/reg1/api-version=2019-03-31", "reg1", false},
		{"", "", false},
	}
	for _, tt := range tests {
		if got := isDPSUsername(tt.username, tt.clientID); got != tt.want {
			t.Errorf("isDPSUsername(%q, %q) = %v, want %v", tt.username, tt.clientID, got, tt.want)
		}
	}
}

// AMQP over WebSockets (Node's AmqpWs on /$iothub/websocket, Service Bus
// and Event Hubs clients on /$servicebus/websocket) is refused with 400 and
// a warning naming AMQP; MQTT on the same path is served.
func TestAMQPWebSocketRefused(t *testing.T) {
	var logs logCapture
	hub := newFakeHub()
	key := hub.add("dev1")
	b, err := New(hub, Options{Logger: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(wsPath, b.WebSocketHandler("wss"))
	mux.Handle("/$servicebus/websocket", b.WebSocketHandler("wss"))
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		_ = b.Close()
		srv.Close()
	})
	base := "ws" + strings.TrimPrefix(srv.URL, "http")

	tests := []struct {
		name, path   string
		subprotocols []string
	}{
		{"AMQP on the IoT Hub path", wsPath, []string{"AMQPWSB10"}},
		{"AMQP on the Service Bus path", "/$servicebus/websocket", []string{"AMQPWSB10"}},
		{"no subprotocol on the Service Bus path", "/$servicebus/websocket", nil},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, resp, err := dialWS(t, base+tt.path, tt.subprotocols...)
			if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("err %v, response %v; want 400", err, resp)
			}
			testkit.Eventually(t, "warning", func() bool { return logs.count(slog.LevelWarn, unsupportedAMQP) == i+1 })
		})
	}

	ws, _, err := dialWS(t, base+wsPath, "mqtt", "AMQPWSB10")
	if err != nil {
		t.Fatalf("MQTT offered with AMQP: %v", err)
	}
	c := newRawClient(t, newWSConn(ws))
	c.connectDevice("dev1", key)
	if n := logs.count(slog.LevelWarn, unsupportedAMQP); n != len(tests) {
		t.Fatalf("%d AMQP warnings, want %d", n, len(tests))
	}
}

// amqpHeader is the protocol header an AMQP 1.0 client opens with (here the
// SASL layer's, as uamqp sends).
var amqpHeader = []byte("AMQP\x03\x01\x00\x00")

// Raw AMQP on an MQTT port, in the clear or inside TLS, or in the clear on
// the TLS port, is closed with a warning naming AMQP.
func TestAMQPOnTheMQTTPortRefused(t *testing.T) {
	tests := []struct {
		name string
		dial func(t *testing.T, plainAddr, tlsAddr string, conf *tls.Config) *rawClient
	}{
		{"plain port", func(t *testing.T, plain, _ string, _ *tls.Config) *rawClient { return dialRaw(t, plain) }},
		{"TLS port", func(t *testing.T, _, tlsAddr string, conf *tls.Config) *rawClient { return dialTLS(t, tlsAddr, conf) }},
		{"TLS port, no TLS", func(t *testing.T, _, tlsAddr string, _ *tls.Config) *rawClient { return dialRaw(t, tlsAddr) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs logCapture
			b, tlsAddr, conf := startTLSBroker(t, newFakeHub(), logs.logger())
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Serve("mqtt", ln); err != nil {
				t.Fatal(err)
			}
			c := tt.dial(t, ln.Addr().String(), tlsAddr, conf)
			_ = c.conn.SetWriteDeadline(time.Now().Add(waitFor))
			if _, err := c.conn.Write(amqpHeader); err != nil {
				t.Fatal(err)
			}
			c.expectClosed()
			expectWarning(t, &logs, unsupportedAMQP)
		})
	}
}

// A client that is not MQTT but not AMQP either gets no AMQP warning.
func TestOtherProtocolNotTakenForAMQP(t *testing.T) {
	var logs logCapture
	b, addr := startBrokerWith(t, newFakeHub(), Options{Logger: logs.logger()})
	c := dialRaw(t, addr)
	c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}}) // not a CONNECT
	c.expectClosed()
	// The broker forgets a connection only after deciding whether to warn.
	testkit.EventuallyWithin(t, waitFor, "the connection settled", func() bool { return servedConns(b) == 0 })
	if n := logs.count(slog.LevelWarn, unsupportedAMQP); n != 0 {
		t.Fatalf("%d AMQP warnings, want none", n)
	}
}
