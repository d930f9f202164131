package certs

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// handshake serves one TLS connection with b and dials it as a client that
// trusts only b's CA, as the SDKs do, pinned to TLS 1.2.
func handshake(t *testing.T, b *Bundle, serverName string) error {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", b.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		_ = c.(*tls.Conn).Handshake()
		c.Close()
	}()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b.CAPEM) {
		t.Fatal("CA PEM does not parse")
	}
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: serverName, MaxVersion: tls.VersionTLS12})
	if err != nil {
		return err
	}
	if len(c.ConnectionState().PeerCertificates) != 2 {
		t.Errorf("server sent %d certificates, want leaf and CA", len(c.ConnectionState().PeerCertificates))
	}
	return c.Close()
}

func TestCreateServeAndReuse(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	now := time.Now()
	b1, err := LoadOrCreate(dir, []string{"myhub.local"}, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"localhost", "127.0.0.1", "::1", "myhub.local"} {
		if err := handshake(t, b1, name); err != nil {
			t.Errorf("handshake as %s: %v", name, err)
		}
	}
	if err := handshake(t, b1, "other.example"); err == nil {
		t.Error("certificate accepted for a name it does not cover")
	}
	if b1.CAPath != filepath.Join(dir, CAFile) {
		t.Errorf("CAPath = %q", b1.CAPath)
	}
	onDisk, err := os.ReadFile(b1.CAPath)
	if err != nil || string(onDisk) != string(b1.CAPEM) {
		t.Fatalf("CA on disk differs from the served CA: %v", err)
	}

	b2, err := LoadOrCreate(dir, []string{"myhub.local"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if string(b2.CAPEM) != string(b1.CAPEM) || string(b2.Certificate.Certificate[0]) != string(b1.Certificate.Certificate[0]) {
		t.Fatal("a second start did not reuse the stored certificates")
	}

	// A new hostname re-issues the server certificate under the same CA.
	b3, err := LoadOrCreate(dir, []string{"myhub.local", "gateway.local"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if string(b3.CAPEM) != string(b1.CAPEM) {
		t.Fatal("adding a hostname replaced the CA")
	}
	if err := handshake(t, b3, "gateway.local"); err != nil {
		t.Fatalf("re-issued certificate does not cover the new host: %v", err)
	}

	// Near expiry, the server certificate is renewed.
	b4, err := LoadOrCreate(dir, []string{"myhub.local", "gateway.local"}, now.Add(serverLifetime-renewBefore/2))
	if err != nil {
		t.Fatal(err)
	}
	if string(b4.Certificate.Certificate[0]) == string(b3.Certificate.Certificate[0]) {
		t.Fatal("server certificate was not renewed near expiry")
	}
}

func TestInMemoryWritesNothing(t *testing.T) {
	b, err := LoadOrCreate("", nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if b.CAPath != "" {
		t.Fatalf("CAPath = %q, want empty", b.CAPath)
	}
	if err := handshake(t, b, "localhost"); err != nil {
		t.Fatal(err)
	}
}

func TestCorruptCAIsAClearError(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, CAFile), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, caKeyFile), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreate(dir, nil, time.Now()); err == nil {
		t.Fatal("corrupt CA files were accepted")
	}
}
