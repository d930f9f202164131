package hub

import (
	"crypto/sha1" //nolint:gosec // IoT Hub identifies self-signed certificates by their SHA-1 thumbprint too.
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"time"

	"github.com/iothub-emulator/iothub-emulator/registry"
)

// AuthenticateDeviceX509 checks the TLS client certificate chain (leaf
// first, as the client sent it) of a device or module that connects with no
// SAS token. A selfSigned identity is matched by the leaf's SHA-1 or
// SHA-256 thumbprint against its registered ones; a certificateAuthority
// one needs a chain to a CA the hub trusts (Options.TrustedCAs, TrustCAs) and a leaf
// whose subject CN is the device id ("deviceId/moduleId" for a module).
// Either way the leaf must be valid now. Unlike a SAS token, the
// certificate's expiry does not end a connection already made: TLS checked
// it once, at the handshake.
func (h *Hub) AuthenticateDeviceX509(deviceID, moduleID string, chain []*x509.Certificate) error {
	if len(chain) == 0 {
		return unauthorized("No client certificate was presented.")
	}
	resource := identityKey(deviceID, moduleID)
	auth, err := h.connectingAuth(deviceID, moduleID)
	if err != nil {
		return err
	}
	leaf, now := chain[0], h.now()
	if now.Before(leaf.NotBefore) {
		return unauthorized("The client certificate of '%s' is not valid before %s.", resource, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	if now.After(leaf.NotAfter) {
		return unauthorized("The client certificate of '%s' expired at %s.", resource, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	switch auth.Type {
	case registry.AuthSelfSigned:
		sha1Sum, sha256Sum := sha1.Sum(leaf.Raw), sha256.Sum256(leaf.Raw) //nolint:gosec // see import
		if !auth.X509Thumbprint.MatchesThumbprint(hex.EncodeToString(sha1Sum[:]), hex.EncodeToString(sha256Sum[:])) {
			return unauthorized("The thumbprint of the client certificate (SHA-1 %X) matches neither registered thumbprint of '%s'.", sha1Sum[:], resource)
		}
	case registry.AuthCertificateAuthority:
		if err := h.verifyCAChain(chain, now); err != nil {
			return unauthorized("The client certificate of '%s' does not chain to a trusted CA: %v", resource, err)
		}
		if cn := leaf.Subject.CommonName; cn != resource {
			return unauthorized("The client certificate's subject CN %q is not '%s'.", cn, resource)
		}
	default:
		return unauthorized("'%s' uses authentication type %s, not X.509; present a SAS token instead of a client certificate.", resource, auth.Type)
	}
	return nil
}

// connectingAuth is the credentials of an identity that may connect: it
// exists, and its device is enabled.
func (h *Hub) connectingAuth(deviceID, moduleID string) (registry.Authentication, error) {
	dev := h.device(deviceID)
	if dev == nil {
		return registry.Authentication{}, deviceNotFound(deviceID)
	}
	if dev.status != registry.StatusEnabled {
		return registry.Authentication{}, unauthorized("Device '%s' is disabled.", deviceID)
	}
	if moduleID == "" {
		return dev.auth, nil
	}
	mod := h.get(identityKey(deviceID, moduleID))
	if mod == nil {
		return registry.Authentication{}, moduleNotFound(deviceID, moduleID)
	}
	return mod.auth, nil
}

var errNoTrustedCA = errors.New("the hub trusts no CA (start it with --x509-ca)")

// verifyCAChain checks chain[0] against the trusted CAs, with the rest of
// the chain as intermediates. Any key usage is accepted: device
// certificates made by hand often carry none, and IoT Hub does not insist.
func (h *Hub) verifyCAChain(chain []*x509.Certificate, now time.Time) error {
	roots := h.trustedRoots()
	if roots == nil {
		return errNoTrustedCA
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	return err
}
