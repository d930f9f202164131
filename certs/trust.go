package certs

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// LoadCAPool reads PEM files of CA certificates (each may hold several) into
// one pool, for verifying client certificates. Nil files give a nil pool.
func LoadCAPool(files []string) (*x509.CertPool, error) {
	if len(files) == 0 {
		return nil, nil
	}
	pool := x509.NewCertPool()
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("x509 CA: %w", err)
		}
		n, err := addPEMCerts(pool, data)
		if err != nil {
			return nil, fmt.Errorf("x509 CA %s: %w", f, err)
		}
		if n == 0 {
			return nil, fmt.Errorf("x509 CA %s: no PEM CERTIFICATE block", f)
		}
	}
	return pool, nil
}

// addPEMCerts adds every CERTIFICATE block of data to pool; unlike
// CertPool.AppendCertsFromPEM it says which block is broken rather than
// skipping it.
func addPEMCerts(pool *x509.CertPool, data []byte) (int, error) {
	n := 0
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return n, nil
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return n, fmt.Errorf("certificate %d: %w", n+1, err)
		}
		// Only a certificate that says it is no CA is refused: old v1 roots
		// carry no basic constraints at all, and verification accepts them.
		if c.BasicConstraintsValid && !c.IsCA {
			return n, errors.New("certificate " + c.Subject.String() + " is not a CA (basicConstraints CA:FALSE)")
		}
		pool.AddCert(c)
		n++
	}
}
