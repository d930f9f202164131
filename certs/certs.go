// Package certs provides the emulator's TLS identity: a local CA and a
// server certificate for the loopback names, created once and reused, or a
// certificate and key supplied by the user.
package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// File names under the certificate directory.
const (
	CAFile        = "ca.pem"
	caKeyFile     = "ca-key.pem"
	serverFile    = "server.pem"
	serverKeyFile = "server-key.pem"
)

const (
	caLifetime     = 10 * 365 * 24 * time.Hour
	serverLifetime = 2 * 365 * 24 * time.Hour
	// renewBefore renews a server certificate this long before it expires,
	// so a long-running emulator never serves an expired one.
	renewBefore = 30 * 24 * time.Hour
)

// Bundle is the TLS identity the listeners serve.
type Bundle struct {
	Certificate tls.Certificate // leaf followed by its CA, so clients get the full chain
	CAPEM       []byte          // the CA to trust; nil when the user supplied the certificate
	CAPath      string          // where CAPEM is on disk; "" when not written
}

// TLSConfig is the server configuration: TLS 1.2 or later (the Python device
// SDK offers only 1.2), no SNI required.
func (b *Bundle) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{b.Certificate},
	}
}

// Load reads a user-supplied PEM certificate (chain) and key.
func Load(certFile, keyFile string) (*Bundle, error) {
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load TLS certificate: %w", err)
	}
	return &Bundle{Certificate: c}, nil
}

// LoadOrCreate returns the CA and server certificate kept in dir, creating
// whatever is missing. The server certificate is re-issued (by the same CA)
// when it does not cover every host in hosts or is near expiry. With dir ""
// nothing is written and a fresh CA is made.
func LoadOrCreate(dir string, hosts []string, now time.Time) (*Bundle, error) {
	hosts = allHosts(hosts)
	if dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("certificate directory: %w", err)
		}
	}
	caCert, caKey, caPEM, err := loadOrCreateCA(dir, now)
	if err != nil {
		return nil, err
	}
	leafPEM, keyPEM, err := loadServer(dir, caCert, hosts, now)
	if err != nil {
		return nil, err
	}
	if leafPEM == nil {
		leafPEM, keyPEM, err = issueServer(caCert, caKey, hosts, now)
		if err != nil {
			return nil, err
		}
		if err := writeFiles(dir, map[string][]byte{serverFile: leafPEM, serverKeyFile: keyPEM}); err != nil {
			return nil, err
		}
	}
	pair, err := tls.X509KeyPair(append(append([]byte{}, leafPEM...), caPEM...), keyPEM)
	if err != nil {
		return nil, fmt.Errorf("server certificate: %w", err)
	}
	b := &Bundle{Certificate: pair, CAPEM: caPEM}
	if dir != "" {
		b.CAPath = filepath.Join(dir, CAFile)
	}
	return b, nil
}

func allHosts(extra []string) []string {
	// Every generated certificate covers the loopback names.
	out := []string{"localhost", "127.0.0.1", "::1"}
	for _, h := range extra {
		if h != "" && !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out
}

func loadOrCreateCA(dir string, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, []byte, error) {
	if dir != "" {
		certPEM, err1 := os.ReadFile(filepath.Join(dir, CAFile))
		keyPEM, err2 := os.ReadFile(filepath.Join(dir, caKeyFile))
		if err1 == nil && err2 == nil {
			cert, key, err := parsePair(certPEM, keyPEM)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("CA in %s: %w (delete the certificate files to make new ones)", dir, err)
			}
			if now.Before(cert.NotAfter) {
				return cert, key, certPEM, nil
			}
		} else if !errors.Is(err1, os.ErrNotExist) && err1 != nil {
			return nil, nil, nil, fmt.Errorf("read CA: %w", err1)
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("generate CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "iothub-emulator local CA", Organization: []string{"iothub-emulator"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caLifetime),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("create CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("parse CA: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, nil, nil, err
	}
	// A new CA invalidates any server certificate it did not sign.
	if err := writeFiles(dir, map[string][]byte{CAFile: certPEM, caKeyFile: keyPEM, serverFile: nil, serverKeyFile: nil}); err != nil {
		return nil, nil, nil, err
	}
	return cert, key, certPEM, nil
}

// loadServer returns the stored server certificate if it is still good for
// hosts under ca, or nils.
func loadServer(dir string, ca *x509.Certificate, hosts []string, now time.Time) (certPEM, keyPEM []byte, err error) {
	if dir == "" {
		return nil, nil, nil
	}
	certPEM, err1 := os.ReadFile(filepath.Join(dir, serverFile))
	keyPEM, err2 := os.ReadFile(filepath.Join(dir, serverKeyFile))
	if err1 != nil || err2 != nil || len(certPEM) == 0 {
		return nil, nil, nil
	}
	cert, _, err := parsePair(certPEM, keyPEM)
	if err != nil || cert.CheckSignatureFrom(ca) != nil || now.After(cert.NotAfter.Add(-renewBefore)) {
		return nil, nil, nil
	}
	for _, h := range hosts {
		if cert.VerifyHostname(h) != nil {
			return nil, nil, nil
		}
	}
	return certPEM, keyPEM, nil
}

func issueServer(ca *x509.Certificate, caKey *ecdsa.PrivateKey, hosts []string, now time.Time) ([]byte, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate server key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: hosts[0], Organization: []string{"iothub-emulator"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(serverLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("create server certificate: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM, nil
}

func parsePair(certPEM, keyPEM []byte) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, errors.New("not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok || !key.PublicKey.Equal(cert.PublicKey) {
		return nil, nil, errors.New("key does not match certificate")
	}
	return cert, key, nil
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// writeFiles writes each file atomically; a nil content removes the file.
func writeFiles(dir string, files map[string][]byte) error {
	if dir == "" {
		return nil
	}
	for name, data := range files {
		path := filepath.Join(dir, name)
		if data == nil {
			if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("remove %s: %w", name, err)
			}
			continue
		}
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
			continue
		}
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}
