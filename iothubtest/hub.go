package iothubtest

import (
	"crypto/tls"
	"crypto/x509"
	"sync"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/emulator"
)

// DefaultTimeout bounds every helper that waits and is not given a timeout
// (or is given one that is not positive).
const DefaultTimeout = 10 * time.Second

// Hub is an emulated IoT Hub running in the test's process. Its methods are
// safe for concurrent use; like t.Fatal, the helpers that take a testing.TB
// must be called from the goroutine running that test.
type Hub struct {
	emu  *emulator.Emulator
	pool *x509.CertPool

	mu       sync.Mutex
	cursors  map[string]int64 // identity key → next telemetry sequence number to look at
	returned map[string]int   // identity key → messages NextTelemetry has returned

	closeOnce sync.Once
	closeErr  error
}

// Start runs a complete emulator (store, hub, MQTT broker, REST API) in the
// test's process: every listener on a free 127.0.0.1 port, everything in
// memory (see WithDataDir), ready when Start returns. It is closed when the
// test and its subtests finish, and a failure to close fails the test.
// Each Start is independent, so parallel tests may each have their own.
func Start(t testing.TB, opts ...Option) *Hub {
	t.Helper()
	var c config
	for _, o := range opts {
		o(&c)
	}
	if c.logger == nil {
		c.logger = envLogger(t.Name())
	}
	emu, err := emulator.New(c.emulatorConfig())
	if err != nil {
		t.Fatalf("iothubtest: start the emulator: %v", err)
	}
	h := &Hub{emu: emu, cursors: make(map[string]int64), returned: make(map[string]int)}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Errorf("iothubtest: close the emulator: %v", err)
		}
	})
	if pem := emu.CAPEM(); pem != nil {
		h.pool = x509.NewCertPool()
		if !h.pool.AppendCertsFromPEM(pem) {
			t.Fatalf("iothubtest: the emulator's CA certificate is not valid PEM")
		}
	}
	return h
}

// Close stops the hub: it closes every listener and connection and flushes
// the store, so another hub can be started on the same WithDataDir. The test
// closes it anyway when it ends; calling Close more than once is harmless
// and returns the first call's error.
func (h *Hub) Close() error {
	h.closeOnce.Do(func() { h.closeErr = h.emu.Close() })
	return h.closeErr
}

// Emulator is the running emulator, for everything the helpers do not cover
// (the hub's domain API, the telemetry log, the C2D queues, other listeners).
func (h *Hub) Emulator() *emulator.Emulator { return h.emu }

// HostName is the hub's canonical host name: localhost unless WithHostName.
func (h *Hub) HostName() string { return h.emu.HostName() }

// ServiceConnectionString is the connection string of the iothubowner
// policy, for service SDKs and REST clients.
func (h *Hub) ServiceConnectionString() string { return h.emu.ConnectionString("iothubowner") }

// CAPEM is the CA certificate clients must trust, in PEM. It is nil when
// WithConfig supplied a certificate of its own.
func (h *Hub) CAPEM() []byte { return h.emu.CAPEM() }

// ClientTLSConfig is a TLS client configuration that trusts the hub's CA and
// verifies the server as "localhost", which the certificate always covers.
// Each call returns a new configuration the caller may change.
func (h *Hub) ClientTLSConfig() *tls.Config {
	return &tls.Config{RootCAs: h.pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
}

// MQTTAddr is the host:port of MQTT over TLS, where device SDKs connect.
func (h *Hub) MQTTAddr() string { return h.emu.Addr(emulator.MQTTS) }

// HTTPSAddr is the host:port of the REST API over TLS (which also serves MQTT
// over WebSockets at /$iothub/websocket).
func (h *Hub) HTTPSAddr() string { return h.emu.Addr(emulator.HTTPS) }
