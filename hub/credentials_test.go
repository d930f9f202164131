package hub

import (
	"testing"

	"github.com/iothub-emulator/iothub-emulator/registry"
)

// A change of credentials ends the identity's connection: new keys, a new
// auth type, or new thumbprints; a thumbprint spelled otherwise is the same.
func TestCredentialsChanged(t *testing.T) {
	str := func(s string) *string { return &s }
	sasAuth := func(p, s string) registry.Authentication {
		return registry.Authentication{Type: registry.AuthSAS, SymmetricKey: &registry.SymmetricKey{PrimaryKey: p, SecondaryKey: s}}
	}
	x509Auth := func(p, s *string) registry.Authentication {
		return registry.Authentication{Type: registry.AuthSelfSigned, X509Thumbprint: registry.X509Thumbprint{PrimaryThumbprint: p, SecondaryThumbprint: s}}
	}
	for _, tc := range []struct {
		name     string
		old, cur registry.Authentication
		want     bool
	}{
		{"same keys", sasAuth("a", "b"), sasAuth("a", "b"), false},
		{"new primary key", sasAuth("a", "b"), sasAuth("c", "b"), true},
		{"new secondary key", sasAuth("a", "b"), sasAuth("a", "c"), true},
		{"sas to x509", sasAuth("a", "b"), x509Auth(str("AB"), nil), true},
		{"same thumbprint, other spelling", x509Auth(str("AB:CD"), nil), x509Auth(str("abcd"), str("")), false},
		{"new primary thumbprint", x509Auth(str("AB"), str("CD")), x509Auth(str("EF"), str("CD")), true},
		{"secondary thumbprint added", x509Auth(str("AB"), nil), x509Auth(str("AB"), str("CD")), true},
	} {
		if got := credentialsChanged(tc.old, tc.cur); got != tc.want {
			t.Errorf("%s: credentialsChanged = %v, want %v", tc.name, got, tc.want)
		}
	}
}
