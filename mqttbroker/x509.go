package mqttbroker

import (
	"crypto/tls"
	"crypto/x509"
	"net"

	"github.com/iothub-emulator/iothub-emulator/internal/wsconn"
)

// peerCertificates is the TLS client certificate chain a connection
// presented, leaf first: from the TLS handshake of an MQTT TLS listener
// (which requests one), or from the HTTPS request a WebSocket upgraded. Nil
// if none, or over plain TCP.
func peerCertificates(c net.Conn) []*x509.Certificate {
	for {
		switch v := c.(type) {
		case *trackedConn:
			c = v.Conn
		case *tls.Conn:
			return v.ConnectionState().PeerCertificates
		case *wsconn.Conn:
			if st := v.TLS(); st != nil {
				return st.PeerCertificates
			}
			return nil
		default:
			return nil
		}
	}
}

// credentialKind names what a CONNECT authenticated with, for log lines:
// X.509 clients send a certificate and no password; a certificate next to
// a SAS token is ignored, as IoT Hub authenticates by the token then.
func credentialKind(req ConnectRequest) string {
	switch {
	case len(req.Password) > 0:
		return "sas"
	case len(req.Certificates) > 0:
		return "x509"
	default:
		return "none"
	}
}
