package mqttbroker

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

// The client certificate reaches the hub with the CONNECT; with a SAS token
// beside it the token is what the hub checks. A refusal is a warning.
func TestX509ClientCertificatePassedToHub(t *testing.T) {
	tests := []struct {
		name     string
		certCN   string // "" for no certificate
		password bool
		want     byte // CONNACK return code
		warned   bool
	}{
		{"certificate, no password", "dev1", false, 0, false},
		{"certificate of another identity", "dev2", false, 5, true},
		{"certificate and a SAS token", "dev2", true, 0, false},
		{"neither", "", false, 5, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs logCapture
			hub := newFakeHub()
			key := hub.add("dev1")
			_, addr, conf := startTLSBroker(t, hub, logs.logger())
			if tt.certCN != "" {
				conf.Certificates = []tls.Certificate{selfSignedCert(t, tt.certCN)}
			}
			password := ""
			if tt.password {
				password = sasToken(testHost, "dev1", key, hourAhead())
			}
			c := dialTLS(t, addr, conf)
			if code := c.connect(4, "dev1", deviceUsername("dev1"), password); code != tt.want {
				t.Fatalf("CONNACK %d, want %d", code, tt.want)
			}
			if tt.warned {
				expectWarning(t, &logs, "not authorized")
			}
		})
	}
}

// Over WebSockets the certificate comes with the HTTPS request.
func TestX509OverWebSockets(t *testing.T) {
	for _, tt := range []struct {
		cn   string
		want byte
	}{{"dev1", 0}, {"dev2", 5}} {
		t.Run(tt.cn, func(t *testing.T) {
			var logs logCapture
			hub := newFakeHub()
			hub.add("dev1")
			b, err := New(hub, Options{Logger: logs.logger()})
			if err != nil {
				t.Fatal(err)
			}
			mux := http.NewServeMux()
			mux.Handle(wsPath, b.WebSocketHandler("wss"))
			srv := httptest.NewUnstartedServer(mux)
			srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
			srv.StartTLS()
			t.Cleanup(func() {
				_ = b.Close()
				srv.Close()
			})
			conf := srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
			conf.Certificates = []tls.Certificate{selfSignedCert(t, tt.cn)}
			d := websocket.Dialer{HandshakeTimeout: waitFor, Subprotocols: []string{"mqtt"}, TLSClientConfig: conf}
			ws, _, err := d.DialContext(t.Context(), "wss"+strings.TrimPrefix(srv.URL, "https")+wsPath, nil)
			if err != nil {
				t.Fatal(err)
			}
			c := newRawClient(t, newWSConn(ws))
			if code := c.connect(4, "dev1", deviceUsername("dev1"), ""); code != tt.want {
				t.Fatalf("CONNACK %d, want %d", code, tt.want)
			}
		})
	}
}
