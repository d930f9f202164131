package hub

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// caTrust holds the CAs trusted beside Options.TrustedCAs, added while the
// hub runs (a seed file's x509CAs). Its zero value trusts none.
type caTrust struct {
	mu    sync.Mutex // serialises additions
	added []*x509.Certificate
	// pool is Options.TrustedCAs with added, rebuilt on each addition so
	// that verification reads it without locking; nil until the first.
	pool atomic.Pointer[x509.CertPool]
}

// TrustCAs adds CA certificates to those whose certificates
// certificateAuthority devices may present, and reports how many were new
// (a certificate already added is skipped). Each must be a CA certificate:
// a chain cannot end in any other. The CAs stay trusted until the hub
// closes; they are not stored.
func (h *Hub) TrustCAs(certs []*x509.Certificate) (added int, err error) {
	for _, c := range certs {
		if c == nil {
			return 0, errors.New("hub: a CA certificate is missing")
		}
		if !c.BasicConstraintsValid || !c.IsCA {
			return 0, fmt.Errorf("hub: the certificate %q is not a CA certificate (basic constraints CA:TRUE)", c.Subject.String())
		}
	}
	t := &h.cas
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range certs {
		if !containsCert(t.added, c) {
			t.added = append(t.added, c)
			added++
		}
	}
	if added == 0 {
		return 0, nil
	}
	pool := x509.NewCertPool()
	if h.trusted != nil {
		pool = h.trusted.Clone()
	}
	for _, c := range t.added {
		pool.AddCert(c)
	}
	t.pool.Store(pool)
	return added, nil
}

// AddedCAs are the CAs TrustCAs added, in the order they were, so they
// can be exported; the CAs of Options.TrustedCAs are not among them.
func (h *Hub) AddedCAs() []*x509.Certificate {
	h.cas.mu.Lock()
	defer h.cas.mu.Unlock()
	return append([]*x509.Certificate(nil), h.cas.added...)
}

// trustedRoots is the pool CA-signed device certificates are verified
// against, or nil when the hub trusts no CA.
func (h *Hub) trustedRoots() *x509.CertPool {
	if p := h.cas.pool.Load(); p != nil {
		return p
	}
	return h.trusted
}

func containsCert(list []*x509.Certificate, c *x509.Certificate) bool {
	for _, x := range list {
		if bytes.Equal(x.Raw, c.Raw) {
			return true
		}
	}
	return false
}
