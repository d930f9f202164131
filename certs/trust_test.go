package certs

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
)

func TestLoadCAPool(t *testing.T) {
	dir := t.TempDir()
	ca1 := testkit.NewCert(t, "ca1", nil, testkit.CertOptions{IsCA: true})
	ca2 := testkit.NewCert(t, "ca2", nil, testkit.CertOptions{IsCA: true})
	f1, _ := ca1.WritePEM(t, dir, "ca1")
	f2, _ := ca2.WritePEM(t, dir, "ca2")
	a, _ := os.ReadFile(f1)
	b, _ := os.ReadFile(f2)
	bundle := filepath.Join(dir, "bundle.pem")
	if err := os.WriteFile(bundle, append(append([]byte("# two roots\n"), a...), b...), 0o600); err != nil {
		t.Fatal(err)
	}
	leafFile, _ := testkit.NewCert(t, "leaf", ca1, testkit.CertOptions{}).WritePEM(t, dir, "leaf")

	pool, err := LoadCAPool([]string{bundle})
	if err != nil {
		t.Fatal(err)
	}
	for _, ca := range []*testkit.Cert{ca1, ca2} {
		leaf := testkit.NewCert(t, "dev", ca, testkit.CertOptions{})
		if _, err := leaf.Cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			t.Errorf("leaf of %s: %v", ca.Cert.Subject.CommonName, err)
		}
	}
	if pool, err := LoadCAPool(nil); pool != nil || err != nil {
		t.Errorf("no files: %v, %v", pool, err)
	}
	for _, tt := range []struct{ file, want string }{
		{filepath.Join(dir, "missing.pem"), "no such file"},
		{leafFile, "is not a CA"},
	} {
		if _, err := LoadCAPool([]string{f1, tt.file}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.file, err, tt.want)
		}
	}
}
