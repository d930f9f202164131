package hub

import (
	"context"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/internal/storetest"
	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
	"github.com/iothub-emulator/iothub-emulator/sas"
)

func TestDeviceAuthenticationX509(t *testing.T) {
	ctx := context.Background()
	root := testkit.NewCert(t, "root", nil, testkit.CertOptions{IsCA: true})
	inter := testkit.NewCert(t, "intermediate", root, testkit.CertOptions{IsCA: true})
	otherRoot := testkit.NewCert(t, "other root", nil, testkit.CertOptions{IsCA: true})
	trusted := x509.NewCertPool()
	trusted.AddCert(root.Cert)
	h, err := open(t, Options{Store: storetest.Open(t, t.TempDir()+"/hub.db"), HostNames: []string{"localhost"}, TrustedCAs: trusted})
	if err != nil {
		t.Fatal(err)
	}

	self1 := testkit.NewCert(t, "anything", nil, testkit.CertOptions{})
	self2 := testkit.NewCert(t, "anything", nil, testkit.CertOptions{})
	stranger := testkit.NewCert(t, "self", nil, testkit.CertOptions{})
	expired := testkit.NewCert(t, "late", nil, testkit.CertOptions{NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	early := testkit.NewCert(t, "early", nil, testkit.CertOptions{NotBefore: time.Now().Add(time.Hour), NotAfter: time.Now().Add(2 * time.Hour)})
	put := func(id, body string) {
		t.Helper()
		if _, err := h.PutDevice(ctx, id, []byte(body), ""); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	thumbs := func(p, s string) string {
		return `{"authentication":{"type":"selfSigned","x509Thumbprint":{"primaryThumbprint":"` + p + `","secondaryThumbprint":"` + s + `"}}}`
	}
	put("self", thumbs(self1.SHA1(), strings.ToLower(self2.SHA256())))
	put("colons", thumbs(colons(self1.SHA256()), ""))
	put("late", thumbs(expired.SHA1(), ""))
	put("early", thumbs(early.SHA1(), ""))
	put("ca", `{"authentication":{"type":"certificateAuthority"}}`)
	put("sas", `{}`)
	put("off", `{"status":"disabled","authentication":{"type":"certificateAuthority"}}`)
	if _, err := h.PutModule(ctx, "ca", "m1", []byte(`{"authentication":{"type":"certificateAuthority"}}`), ""); err != nil {
		t.Fatal(err)
	}

	chain := func(c *testkit.Cert) []*x509.Certificate {
		var out []*x509.Certificate
		for _, der := range c.Chain {
			x, err := x509.ParseCertificate(der)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, x)
		}
		return out
	}
	tests := []struct {
		name, device, module string
		cert                 *testkit.Cert
		wantErr              string // "" for success
	}{
		{"self-signed, primary SHA-1", "self", "", self1, ""},
		{"self-signed, secondary SHA-256 in lower case", "self", "", self2, ""},
		{"self-signed, SHA-256 with colons", "colons", "", self1, ""},
		{"wrong thumbprint", "self", "", stranger, "matches neither registered thumbprint"},
		{"expired", "late", "", expired, "expired at"},
		{"not yet valid", "early", "", early, "not valid before"},
		{"CA-signed", "ca", "", testkit.NewCert(t, "ca", root, testkit.CertOptions{}), ""},
		{"CA-signed through an intermediate", "ca", "", testkit.NewCert(t, "ca", inter, testkit.CertOptions{}), ""},
		{"CA-signed module", "ca", "m1", testkit.NewCert(t, "ca/m1", root, testkit.CertOptions{}), ""},
		{"CA-signed, wrong CN", "ca", "", testkit.NewCert(t, "someone", root, testkit.CertOptions{}), "subject CN"},
		{"CA-signed module with the device's CN", "ca", "m1", testkit.NewCert(t, "ca", root, testkit.CertOptions{}), "subject CN"},
		{"untrusted CA", "ca", "", testkit.NewCert(t, "ca", otherRoot, testkit.CertOptions{}), "does not chain to a trusted CA"},
		{"self-signed cert for a CA device", "ca", "", testkit.NewCert(t, "ca", nil, testkit.CertOptions{}), "does not chain to a trusted CA"},
		{"SAS device with a certificate", "sas", "", self1, "not X.509"},
		{"disabled device", "off", "", testkit.NewCert(t, "off", root, testkit.CertOptions{}), "disabled"},
		{"unknown device", "ghost", "", self1, "not registered"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := h.AuthenticateDeviceX509(tc.device, tc.module, chain(tc.cert))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one saying %q", err, tc.wantErr)
			case tc.wantErr != "" && tc.device != "ghost" && !errcode.Is(err, errcode.IotHubUnauthorized):
				t.Fatalf("error %v is not IotHubUnauthorized", err)
			}
		})
	}

	// An X.509 identity does not connect with a SAS token, even one that
	// would be valid for a key it does not have.
	tok, err := sas.NewToken("localhost/devices/self", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "", time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.AuthenticateDevice("self", "", tok); err == nil || !strings.Contains(err.Error(), "client certificate, not a SAS token") {
		t.Fatalf("SAS token for a selfSigned device: %v", err)
	}
}

// A hub that trusts no CA refuses every certificateAuthority device, saying so.
func TestX509WithoutTrustedCA(t *testing.T) {
	h := newHub(t)
	if _, err := h.PutDevice(context.Background(), "ca", []byte(`{"authentication":{"type":"certificateAuthority"}}`), ""); err != nil {
		t.Fatal(err)
	}
	root := testkit.NewCert(t, "root", nil, testkit.CertOptions{IsCA: true})
	leaf := testkit.NewCert(t, "ca", root, testkit.CertOptions{})
	err := h.AuthenticateDeviceX509("ca", "", []*x509.Certificate{leaf.Cert})
	if err == nil || !strings.Contains(err.Error(), "--x509-ca") {
		t.Fatalf("error %v, want one naming --x509-ca", err)
	}
}

func colons(hexs string) string {
	var b strings.Builder
	for i := 0; i < len(hexs); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(hexs[i : i+2])
	}
	return b.String()
}
