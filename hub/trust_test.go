package hub

import (
	"context"
	"crypto/x509"
	"sync"
	"testing"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/internal/storetest"
	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
)

func TestTrustCAs(t *testing.T) {
	base := testkit.NewCert(t, "base root", nil, testkit.CertOptions{IsCA: true})
	added := testkit.NewCert(t, "added root", nil, testkit.CertOptions{IsCA: true})
	for _, tt := range []struct {
		name string
		opts *x509.CertPool
	}{{"with Options.TrustedCAs", pool(base)}, {"without", nil}} {
		t.Run(tt.name, func(t *testing.T) {
			h, err := open(t, Options{Store: storetest.Temp(t), HostNames: []string{"localhost"}, TrustedCAs: tt.opts})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := h.PutDevice(context.Background(), "ca1", []byte(`{"authentication":{"type":"certificateAuthority"}}`), ""); err != nil {
				t.Fatal(err)
			}
			byAdded := chainOf(testkit.NewCert(t, "ca1", added, testkit.CertOptions{}))
			byBase := chainOf(testkit.NewCert(t, "ca1", base, testkit.CertOptions{}))
			if err := h.AuthenticateDeviceX509("ca1", "", byAdded); !errcode.Is(err, errcode.IotHubUnauthorized) {
				t.Fatalf("before TrustCAs: %v", err)
			}
			leaf := testkit.NewCert(t, "leaf", nil, testkit.CertOptions{})
			if _, err := h.TrustCAs([]*x509.Certificate{added.Cert, leaf.Cert}); err == nil {
				t.Fatal("a certificate that is no CA was trusted")
			}
			if len(h.AddedCAs()) != 0 {
				t.Fatal("a refused TrustCAs added some")
			}
			// Concurrent additions of the same CA add it once.
			var wg sync.WaitGroup
			counts := make([]int, 8)
			for i := range counts {
				wg.Add(1)
				go func() {
					defer wg.Done()
					n, err := h.TrustCAs([]*x509.Certificate{added.Cert})
					if err != nil {
						t.Error(err)
					}
					counts[i] = n
					_ = h.AuthenticateDeviceX509("ca1", "", byAdded)
				}()
			}
			wg.Wait()
			total := 0
			for _, n := range counts {
				total += n
			}
			if total != 1 || len(h.AddedCAs()) != 1 {
				t.Fatalf("added %d times, %d CAs", total, len(h.AddedCAs()))
			}
			if err := h.AuthenticateDeviceX509("ca1", "", byAdded); err != nil {
				t.Fatalf("after TrustCAs: %v", err)
			}
			err = h.AuthenticateDeviceX509("ca1", "", byBase)
			if trustedBase := tt.opts != nil; (err == nil) != trustedBase {
				t.Fatalf("the options' CA: %v", err)
			}
		})
	}
}

func pool(certs ...*testkit.Cert) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c.Cert)
	}
	return p
}

func chainOf(c *testkit.Cert) []*x509.Certificate {
	out := make([]*x509.Certificate, 0, len(c.Chain))
	for _, der := range c.Chain {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			panic(err)
		}
		out = append(out, cert)
	}
	return out
}
