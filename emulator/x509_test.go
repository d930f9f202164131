package emulator

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
)

// syncBuffer is testkit.SyncBuffer: safe to read while goroutines write.
type syncBuffer = testkit.SyncBuffer

// startX509 runs an emulator trusting the CAs given, logging to logs.
func startX509(t *testing.T, logs *syncBuffer, cas ...*testkit.Cert) *Emulator {
	t.Helper()
	cfg := DefaultConfig()
	cfg.MQTTSPort, cfg.HTTPSPort, cfg.MQTTPort, cfg.HTTPPort = 0, 0, 0, 0
	cfg.AMQPSPort, cfg.AMQPPort = 0, 0
	cfg.InMemory = true
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if len(cas) > 0 {
		// All the CAs in one file, as a bundle is usually kept.
		var bundle []byte
		for _, c := range cas {
			bundle = append(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw})...)
		}
		f := filepath.Join(t.TempDir(), "cas.pem")
		if err := os.WriteFile(f, bundle, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg.X509CAs = []string{f}
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// dialX509 connects id with cert and no password, over 8883 ("ssl") or
// MQTT over WebSockets on the HTTPS port ("wss").
func dialX509(t *testing.T, e *Emulator, scheme, id string, cert *testkit.Cert) (paho.Client, <-chan paho.Message, error) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(e.CAPEM())
	addr := "ssl://" + e.Addr(MQTTS)
	if scheme == "wss" {
		addr = "wss://" + e.Addr(HTTPS) + WebSocketPath
	}
	got := make(chan paho.Message, 8)
	c := paho.NewClient(paho.NewClientOptions().
		AddBroker(addr).
		SetTLSConfig(&tls.Config{RootCAs: pool, ServerName: "localhost", Certificates: []tls.Certificate{cert.TLS()}}).
		SetClientID(id).SetUsername("localhost/" + id + "/?api-version=2021-04-12").
		SetProtocolVersion(4).SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(wait).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { got <- m }))
	tk := c.Connect()
	if !tk.WaitTimeout(wait) {
		return nil, nil, fmt.Errorf("connect timed out")
	}
	if tk.Error() != nil {
		return nil, nil, tk.Error()
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return c, got, nil
}

// getTwin asks for the twin over c and waits for the answer.
func getTwin(t *testing.T, c paho.Client, got <-chan paho.Message) {
	t.Helper()
	if tk := c.Subscribe("$iothub/twin/res/#", 0, nil); !tk.WaitTimeout(wait) || tk.Error() != nil {
		t.Fatalf("subscribe: %v", tk.Error())
	}
	c.Publish("$iothub/twin/GET/?$rid=1", 0, false, "").WaitTimeout(wait)
	select {
	case m := <-got:
		if !strings.HasPrefix(m.Topic(), "$iothub/twin/res/200/") {
			t.Fatalf("twin answer on %s", m.Topic())
		}
	case <-time.After(wait):
		t.Fatal("no twin answer")
	}
}

func TestX509DevicesConnect(t *testing.T) {
	root := testkit.NewCert(t, "test root", nil, testkit.CertOptions{IsCA: true})
	otherRoot := testkit.NewCert(t, "another root", nil, testkit.CertOptions{IsCA: true})
	untrusted := testkit.NewCert(t, "untrusted root", nil, testkit.CertOptions{IsCA: true})
	var logs syncBuffer
	e := startX509(t, &logs, otherRoot, root)
	svc := newService(t, e)

	self1 := testkit.NewCert(t, "self1", nil, testkit.CertOptions{})
	self2 := testkit.NewCert(t, "self2", nil, testkit.CertOptions{})
	expired := testkit.NewCert(t, "old", nil, testkit.CertOptions{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	early := testkit.NewCert(t, "early", nil, testkit.CertOptions{NotBefore: time.Now().Add(24 * time.Hour), NotAfter: time.Now().Add(48 * time.Hour)})
	selfSigned := func(primary, secondary string) map[string]any {
		return map[string]any{"authentication": map[string]any{"type": "selfSigned",
			"x509Thumbprint": map[string]any{"primaryThumbprint": primary, "secondaryThumbprint": secondary}}}
	}
	ca := map[string]any{"authentication": map[string]any{"type": "certificateAuthority"}}
	for id, body := range map[string]map[string]any{
		"sha1dev":   selfSigned(self1.SHA1(), self2.SHA1()),
		"sha256dev": selfSigned(strings.ToLower(self1.SHA256()), self2.SHA256()),
		"olddev":    selfSigned(expired.SHA1(), ""),
		"earlydev":  selfSigned(early.SHA1(), ""),
		"cadev":     ca,
	} {
		var got struct {
			Authentication struct {
				Type           string
				SymmetricKey   map[string]any
				X509Thumbprint map[string]any
			}
		}
		if st := svc.do("PUT", "/devices/"+id, body, &got); st != 200 {
			t.Fatalf("create %s: %d", id, st)
		}
		if got.Authentication.Type != body["authentication"].(map[string]any)["type"] || got.Authentication.SymmetricKey["primaryKey"] != nil {
			t.Fatalf("%s created with %+v", id, got.Authentication)
		}
	}
	svc.createDevice("sasdev")
	if st := svc.do("PUT", "/devices/cadev/modules/m1", ca, nil); st != 200 {
		t.Fatalf("create module: %d", st)
	}

	tests := []struct {
		name, id string
		cert     *testkit.Cert
		refusal  string // "" to connect; else what the warning says
	}{
		{"self-signed, primary SHA-1", "sha1dev", self1, ""},
		{"self-signed, secondary SHA-1", "sha1dev", self2, ""},
		{"self-signed, primary SHA-256", "sha256dev", self1, ""},
		{"self-signed, secondary SHA-256", "sha256dev", self2, ""},
		{"CA-signed", "cadev", testkit.NewCert(t, "cadev", root, testkit.CertOptions{}), ""},
		{"CA-signed module", "cadev/m1", testkit.NewCert(t, "cadev/m1", root, testkit.CertOptions{}), ""},
		{"CA-signed module with the device's CN", "cadev/m1", testkit.NewCert(t, "cadev", root, testkit.CertOptions{}), "subject CN"},
		{"wrong thumbprint", "sha1dev", testkit.NewCert(t, "sha1dev", nil, testkit.CertOptions{}), "matches neither registered thumbprint"},
		{"expired", "olddev", expired, "expired at"},
		{"not yet valid", "earlydev", early, "not valid before"},
		{"wrong CN", "cadev", testkit.NewCert(t, "someone-else", root, testkit.CertOptions{}), "subject CN"},
		{"untrusted chain", "cadev", testkit.NewCert(t, "cadev", untrusted, testkit.CertOptions{}), "does not chain to a trusted CA"},
		{"SAS device with only a certificate", "sasdev", self1, "not X.509"},
	}
	for _, scheme := range []string{"ssl", "wss"} {
		for _, tc := range tests {
			t.Run(scheme+"/"+tc.name, func(t *testing.T) {
				warned := strings.Count(logs.String(), tc.refusal)
				c, got, err := dialX509(t, e, scheme, tc.id, tc.cert)
				if tc.refusal == "" {
					if err != nil {
						t.Fatalf("refused: %v\n%s", err, logs.String())
					}
					getTwin(t, c, got)
					return
				}
				if err == nil || !strings.Contains(err.Error(), "not Authorized") {
					t.Fatalf("connect error %v, want not authorized", err)
				}
				testkit.Eventually(t, "warning "+tc.refusal, func() bool {
					return strings.Count(logs.String(), tc.refusal) > warned
				})
			})
		}
	}
}

// An X.509 device has no key: a SAS token signed with any key is refused,
// with a warning that says to use the certificate.
func TestX509DeviceRefusesSASToken(t *testing.T) {
	var logs syncBuffer
	e := startX509(t, &logs)
	svc := newService(t, e)
	body := map[string]any{"authentication": map[string]any{"type": "certificateAuthority"}}
	if st := svc.do("PUT", "/devices/cadev", body, nil); st != 200 {
		t.Fatalf("create: %d", st)
	}
	_, err := dialDevice(t, e, "cadev", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", true)
	if err == nil || !strings.Contains(err.Error(), "not Authorized") {
		t.Fatalf("connect error %v, want not authorized", err)
	}
	testkit.Eventually(t, "warning", func() bool {
		return strings.Contains(logs.String(), "client certificate, not a SAS token")
	})
}

// An X.509 device is dropped when disabled or deleted, as a SAS one is.
func TestX509DeviceDisabledOrDeletedIsDisconnected(t *testing.T) {
	var logs syncBuffer
	e := startX509(t, &logs)
	svc := newService(t, e)
	for _, change := range []string{"disable", "delete"} {
		t.Run(change, func(t *testing.T) {
			id := change + "dev"
			cert := testkit.NewCert(t, id, nil, testkit.CertOptions{})
			body := map[string]any{"authentication": map[string]any{"type": "selfSigned",
				"x509Thumbprint": map[string]any{"primaryThumbprint": cert.SHA1()}}}
			if st := svc.do("PUT", "/devices/"+id, body, nil); st != 200 {
				t.Fatalf("create: %d", st)
			}
			c, _, err := dialX509(t, e, "ssl", id, cert)
			if err != nil {
				t.Fatal(err)
			}
			var st int
			if change == "disable" {
				body["status"] = "disabled"
				st = svc.do("PUT", "/devices/"+id, body, nil, "If-Match", "*")
			} else {
				st = svc.do("DELETE", "/devices/"+id, nil, nil, "If-Match", "*")
			}
			if st >= 300 {
				t.Fatalf("%s: %d", change, st)
			}
			testkit.Eventually(t, "disconnected", func() bool { return !c.IsConnectionOpen() })
		})
	}
}
