package iothubtest_test

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/emulator"
	"github.com/iothub-emulator/iothub-emulator/iothubtest"
	"github.com/iothub-emulator/iothub-emulator/sas"
)

// restGet calls the hub's REST API over TLS, signed with a service
// connection string, and decodes a JSON answer into out.
func restGet(t *testing.T, h *iothubtest.Hub, connectionString, path string, out any) int {
	t.Helper()
	cs, err := sas.ParseConnectionString(connectionString)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := sas.NewToken(cs.HostName, cs.SharedAccessKey, cs.SharedAccessKeyName, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("GET", "https://"+h.HTTPSAddr()+path+"?api-version=2021-04-12", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", tok)
	client := &http.Client{Timeout: wait, Transport: &http.Transport{TLSClientConfig: h.ClientTLSConfig()}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("GET %s: %v in %s", path, err, body)
		}
	}
	return resp.StatusCode
}

func TestStartServesOnLoopbackWithTheServiceConnectionString(t *testing.T) {
	h := iothubtest.Start(t)
	for name, addr := range map[string]string{"mqtts": h.MQTTAddr(), "https": h.HTTPSAddr()} {
		host, port, err := net.SplitHostPort(addr)
		if err != nil || host != "127.0.0.1" || port == "0" {
			t.Errorf("%s address %q: want 127.0.0.1 and a chosen port (%v)", name, addr, err)
		}
	}
	if !bytes.Equal(h.CAPEM(), h.Emulator().CAPEM()) || !bytes.Contains(h.CAPEM(), []byte("BEGIN CERTIFICATE")) {
		t.Fatalf("CAPEM %q", h.CAPEM())
	}

	// /healthz over TLS, trusting only the hub's CA.
	client := &http.Client{Timeout: wait, Transport: &http.Transport{TLSClientConfig: h.ClientTLSConfig()}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("https://" + h.HTTPSAddr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz: %d", resp.StatusCode)
	}

	cs, err := sas.ParseConnectionString(h.ServiceConnectionString())
	if err != nil || cs.HostName != "127.0.0.1" || cs.SharedAccessKeyName != "iothubowner" || cs.SharedAccessKey == "" {
		t.Fatalf("service connection string %q: %+v %v", h.ServiceConnectionString(), cs, err)
	}
	dev := h.CreateDevice(t, "d1")
	var got struct {
		DeviceID       string `json:"deviceId"`
		Authentication struct {
			SymmetricKey struct {
				PrimaryKey string `json:"primaryKey"`
			} `json:"symmetricKey"`
		} `json:"authentication"`
	}
	if st := restGet(t, h, h.ServiceConnectionString(), "/devices/d1", &got); st != 200 {
		t.Fatalf("GET /devices/d1 with the service connection string: %d", st)
	}
	if got.DeviceID != "d1" || got.Authentication.SymmetricKey.PrimaryKey != dev.PrimaryKey {
		t.Fatalf("REST sees %+v, harness created %+v", got, dev)
	}
	// The signature is checked: a wrong key is refused.
	bad := strings.Replace(h.ServiceConnectionString(), cs.SharedAccessKey, dev.PrimaryKey, 1)
	if st := restGet(t, h, bad, "/devices/d1", nil); st != 401 {
		t.Fatalf("GET with a wrong key: %d, want 401", st)
	}
}

func TestClientTLSConfigIsFreshAndVerifies(t *testing.T) {
	h := iothubtest.Start(t)
	a, b := h.ClientTLSConfig(), h.ClientTLSConfig()
	if a == b || a.ServerName != "localhost" || a.RootCAs == nil {
		t.Fatalf("configs %p %p ServerName %q", a, b, a.ServerName)
	}
	a.ServerName = "changed"
	if h.ClientTLSConfig().ServerName != "localhost" {
		t.Fatal("changing one config changed the next")
	}
	// The MQTT listener presents a certificate that verifies against the CA.
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: wait}, "tcp", h.MQTTAddr(), h.ClientTLSConfig())
	if err != nil {
		t.Fatalf("TLS to the MQTT port: %v", err)
	}
	conn.Close()
	// Another hub's CA does not verify it.
	other := iothubtest.Start(t)
	if conn, err := tls.DialWithDialer(&net.Dialer{Timeout: wait}, "tcp", h.MQTTAddr(), other.ClientTLSConfig()); err == nil {
		conn.Close()
		t.Fatal("another hub's CA verified this hub's certificate")
	}
}

func TestWithHostName(t *testing.T) {
	h := iothubtest.Start(t, iothubtest.WithHostName("hub.example.test"), iothubtest.WithHostName("second.example.test"))
	if h.HostName() != "hub.example.test" {
		t.Fatalf("HostName %q", h.HostName())
	}
	for _, s := range []string{h.ServiceConnectionString(), h.CreateDevice(t, "d1").ConnectionString} {
		if !strings.HasPrefix(s, "HostName=hub.example.test;") {
			t.Errorf("connection string %q does not name the canonical host", s)
		}
	}
	// Devices connect with the canonical host in username and token.
	h.DialMQTT(t, h.CreateDevice(t, "d2").ConnectionString)
	// The certificate covers every name given.
	for _, name := range []string{"hub.example.test", "second.example.test", "localhost"} {
		conf := h.ClientTLSConfig()
		conf.ServerName = name
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: wait}, "tcp", h.HTTPSAddr(), conf)
		if err != nil {
			t.Errorf("TLS as %s: %v", name, err)
			continue
		}
		conn.Close()
	}
}

// syncBuffer is testkit.SyncBuffer: safe to read while goroutines write.
type syncBuffer = testkit.SyncBuffer

func TestWithLogger(t *testing.T) {
	var buf syncBuffer
	h := iothubtest.Start(t, iothubtest.WithLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if !strings.Contains(buf.String(), "emulator ready") {
		t.Fatalf("log after Start: %q", buf.String())
	}
	h.CreateDevice(t, "logged")
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if log := buf.String(); !strings.Contains(log, "device=logged") || !strings.Contains(log, "emulator stopped") {
		t.Fatalf("log after Close: %q", log)
	}
}

func TestWithConfigRunsAfterTheOtherOptions(t *testing.T) {
	dir := t.TempDir()
	var seen emulator.Config
	h := iothubtest.Start(t, iothubtest.WithDataDir(dir), iothubtest.WithConfig(func(c *emulator.Config) {
		seen = *c
		c.MQTTPort = emulator.Off
	}))
	if seen.InMemory || seen.DataDir != dir || seen.Bind != "127.0.0.1" || seen.MQTTSPort != 0 || seen.HTTPSPort != 0 {
		t.Fatalf("WithConfig saw %+v", seen)
	}
	if a := h.Emulator().Addr(emulator.MQTT); a != "" {
		t.Fatalf("plain MQTT listener on %s, turned off by WithConfig", a)
	}
	if h.Emulator().Addr(emulator.HTTP) == "" {
		t.Fatal("plain HTTP listener is off; Start enables it")
	}
}

func TestStartFailsClearly(t *testing.T) {
	mustFail(t, func(tb testing.TB) {
		iothubtest.Start(tb, iothubtest.WithHostName("not a host"))
	}, "iothubtest: start the emulator", `"not a host"`)
	mustFail(t, func(tb testing.TB) {
		iothubtest.Start(tb, iothubtest.WithConfig(func(c *emulator.Config) { c.TLSCert = "cert.pem" }))
	}, "iothubtest: start the emulator", "--tls-key")
}

func TestCloseIsIdempotentAndCleanupClosesQuietly(t *testing.T) {
	var h *iothubtest.Hub
	failures := runFake(t, func(tb testing.TB) {
		h = iothubtest.Start(tb)
		if err := h.Close(); err != nil {
			tb.Errorf("first Close: %v", err)
		}
		if err := h.Close(); err != nil {
			tb.Errorf("second Close: %v", err)
		}
	})
	if len(failures) != 0 {
		t.Fatalf("failures: %q", failures)
	}
	// Closed: its listeners no longer accept connections.
	if conn, err := net.DialTimeout("tcp", h.MQTTAddr(), wait); err == nil {
		conn.Close()
		t.Fatal("the MQTT port still accepts connections after Close")
	}

	// Without Close, the test's cleanup closes it.
	failures = runFake(t, func(tb testing.TB) { h = iothubtest.Start(tb) })
	if len(failures) != 0 {
		t.Fatalf("failures: %q", failures)
	}
	if conn, err := net.DialTimeout("tcp", h.HTTPSAddr(), wait); err == nil {
		conn.Close()
		t.Fatal("the HTTPS port still accepts connections after the test's cleanup")
	}
}
