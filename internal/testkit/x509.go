package testkit

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // thumbprints, as IoT Hub computes them
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Cert is a generated certificate with its key, for tests of X.509
// device authentication.
type Cert struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	// Chain is the DER chain a client presents: the leaf, then any
	// intermediate that issued it.
	Chain [][]byte
}

// CertOptions shape a generated certificate; zero values are a valid one
// for the next hour, made an hour ago.
type CertOptions struct {
	NotBefore, NotAfter time.Time
	IsCA                bool
}

// NewCert makes a certificate with subject CN cn, signed by parent, or
// self-signed if parent is nil.
func NewCert(t testing.TB, cn string, parent *Cert, o CertOptions) *Cert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if o.NotBefore.IsZero() {
		o.NotBefore = time.Now().Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = time.Now().Add(time.Hour)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             o.NotBefore,
		NotAfter:              o.NotAfter,
		BasicConstraintsValid: true,
		IsCA:                  o.IsCA,
	}
	if o.IsCA {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	issuer, signer := tmpl, key
	var chain [][]byte
	if parent != nil {
		issuer, signer = parent.Cert, parent.Key
		if !parent.Cert.IsCA || parent.Cert.CheckSignatureFrom(parent.Cert) != nil {
			chain = parent.Chain // an intermediate travels with the leaf
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &Cert{Cert: c, Key: key, Chain: append([][]byte{der}, chain...)}
}

// TLS is the certificate as a client presents it.
func (c *Cert) TLS() tls.Certificate {
	return tls.Certificate{Certificate: c.Chain, PrivateKey: c.Key, Leaf: c.Cert}
}

// SHA1 and SHA256 are the certificate's thumbprints in upper-case hex.
func (c *Cert) SHA1() string {
	s := sha1.Sum(c.Cert.Raw) //nolint:gosec // see import
	return hexUpper(s[:])
}

func (c *Cert) SHA256() string {
	s := sha256.Sum256(c.Cert.Raw)
	return hexUpper(s[:])
}

func hexUpper(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) }

// WritePEM writes the certificate chain and its key as PEM files in dir and
// returns their paths.
func (c *Cert) WritePEM(t testing.TB, dir, name string) (certFile, keyFile string) {
	t.Helper()
	var certPEM []byte
	for _, der := range c.Chain {
		certPEM = append(certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	keyDER, err := x509.MarshalECPrivateKey(c.Key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
