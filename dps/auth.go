package dps

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/registry"
	"github.com/iothub-emulator/iothub-emulator/sas"
)

// PolicyName is the built-in shared access policy of a provisioning
// service, which grants every right.
const PolicyName = "provisioningserviceowner"

// Policy is the service's shared access policy.
type Policy struct {
	Name         string
	PrimaryKey   string
	SecondaryKey string
}

// WellKnownPolicy is the built-in policy with fixed keys documented in the
// README, so one connection string works on every machine. Anyone
// exposing the emulator beyond loopback replaces them.
func WellKnownPolicy() Policy {
	return Policy{PolicyName, "fMIItyw02bQdbPuawrxZkqYB3YVPVU0otzrtAclwfM8=", "zvkrydGj75oN1bCpizbSkm+cpXGdVKRfzBOIXQ3t5e4="}
}

// WithKey returns the policy with both keys replaced by key, so the
// well-known secondary no longer works.
func (p Policy) WithKey(key string) (Policy, error) {
	if b, err := base64.StdEncoding.DecodeString(key); err != nil || len(b) == 0 {
		return Policy{}, fmt.Errorf("the key of policy %q is not base64", p.Name)
	}
	p.PrimaryKey, p.SecondaryKey = key, key
	return p, nil
}

func unauthorized(format string, args ...any) error {
	return errcode.New(errcode.ProvisioningUnauthorized, format, args...)
}

// AuthorizeService checks the Authorization header of a service API
// request: a SAS token for this service's host signed with its policy.
func (s *Service) AuthorizeService(header string) error {
	if header == "" {
		return unauthorized("The request has no Authorization header; a SharedAccessSignature is required.")
	}
	tok, err := sas.ParseToken(header)
	if err != nil {
		return unauthorized("The SharedAccessSignature is malformed: %v", err)
	}
	if tok.Expired(s.now()) {
		return unauthorized("The SharedAccessSignature expired at %s.", tok.ExpiresAt().UTC().Format(time.RFC3339))
	}
	host, _, _ := strings.Cut(tok.Resource, "/")
	if !s.hostAccepted(host) {
		return unauthorized("The SharedAccessSignature is for host '%s', not this provisioning service.", host)
	}
	if !strings.EqualFold(tok.KeyName, s.policy.Name) {
		return unauthorized("The SharedAccessSignature is signed with policy '%s'; the provisioning service has only '%s'.", tok.KeyName, s.policy.Name)
	}
	if !tok.VerifyKey(s.policy.PrimaryKey) && !tok.VerifyKey(s.policy.SecondaryKey) {
		return unauthorized("The SharedAccessSignature for policy '%s' is not valid.", tok.KeyName)
	}
	return nil
}

// DeviceKey is the key of a device in a symmetric-key enrollment group:
// the HMAC-SHA256 of its registration id under the group key, as DPS and
// `az iot dps enrollment-group compute-device-key` derive it.
func DeviceKey(groupKey, registrationID string) (string, error) {
	k, err := base64.StdEncoding.DecodeString(groupKey)
	if err != nil {
		return "", fmt.Errorf("dps: group key is not base64: %w", err)
	}
	m := hmac.New(sha256.New, k)
	m.Write([]byte(registrationID))
	return base64.StdEncoding.EncodeToString(m.Sum(nil)), nil
}

// Credential is what a registering device presents: a SAS token, or the
// TLS client certificate chain it connected with (leaf first).
type Credential struct {
	Token string
	Chain []*x509.Certificate
}

// match is the enrollment a device's credential proved it belongs to.
type match struct {
	enrollment *Enrollment // the individual enrollment, or nil
	group      *Enrollment // the enrollment group, or nil
	method     string      // AttestSymmetricKey or AttestX509
	keys       registry.SymmetricKey
	leaf       *x509.Certificate
}

// Authenticate checks a device's credential for registrationID in scope,
// as DPS does when the device connects: the scope is this service's, and
// the token or certificate matches an enrollment (an individual enrollment
// first, then the groups). Disabled enrollments authenticate; Register
// reports them.
func (s *Service) Authenticate(idScope, registrationID string, c Credential) error {
	_, err := s.authenticate(idScope, registrationID, c)
	return err
}

func (s *Service) authenticate(idScope, registrationID string, c Credential) (match, error) {
	if !strings.EqualFold(idScope, s.scope) {
		return match{}, unauthorized("The ID scope '%s' is not this provisioning service's (%s).", idScope, s.scope)
	}
	if err := ValidateRegistrationID("registration id", registrationID); err != nil {
		return match{}, unauthorized("%s", errcode.From(err).Message)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if c.Token != "" {
		return s.authenticateSAS(idScope, registrationID, c.Token)
	}
	if len(c.Chain) > 0 {
		return s.authenticateX509(registrationID, c.Chain)
	}
	return match{}, unauthorized("The registration of '%s' presents neither a SAS token nor a client certificate.", registrationID)
}

func (s *Service) authenticateSAS(idScope, registrationID, token string) (match, error) {
	tok, err := sas.ParseToken(token)
	if err != nil {
		return match{}, unauthorized("The SharedAccessSignature is malformed: %v", err)
	}
	if tok.Expired(s.now()) {
		return match{}, unauthorized("The SharedAccessSignature expired at %s.", tok.ExpiresAt().UTC().Format(time.RFC3339))
	}
	want := idScope + "/registrations/" + registrationID
	if !strings.EqualFold(strings.TrimSuffix(tok.Resource, "/"), want) {
		return match{}, unauthorized("The SharedAccessSignature is for '%s', not '%s'.", tok.Resource, want)
	}
	if e := s.enrollments[key(registrationID)]; e != nil {
		a := e.Attestation
		if a.Type != AttestSymmetricKey {
			return match{}, unauthorized("The enrollment '%s' attests with %s, not a symmetric key.", registrationID, a.Type)
		}
		if !tok.VerifyKey(a.SymmetricKey.PrimaryKey) && !tok.VerifyKey(a.SymmetricKey.SecondaryKey) {
			return match{}, unauthorized("The SharedAccessSignature of '%s' is not signed with a key of its enrollment.", registrationID)
		}
		return match{enrollment: e, method: AttestSymmetricKey, keys: registry.SymmetricKey(*a.SymmetricKey)}, nil
	}
	for _, gk := range sortedKeys(s.groups) {
		g := s.groups[gk]
		if g.Attestation.Type != AttestSymmetricKey {
			continue
		}
		primary, err1 := DeviceKey(g.Attestation.SymmetricKey.PrimaryKey, registrationID)
		secondary, err2 := DeviceKey(g.Attestation.SymmetricKey.SecondaryKey, registrationID)
		if err1 != nil || err2 != nil {
			continue
		}
		if tok.VerifyKey(primary) || tok.VerifyKey(secondary) {
			return match{group: g, method: AttestSymmetricKey, keys: registry.SymmetricKey{PrimaryKey: primary, SecondaryKey: secondary}}, nil
		}
	}
	return match{}, unauthorized("No enrollment matches the SharedAccessSignature of '%s': there is no individual enrollment with that registration id, and no symmetric-key group's derived key signed it.", registrationID)
}

func (s *Service) authenticateX509(registrationID string, chain []*x509.Certificate) (match, error) {
	leaf, now := chain[0], s.now()
	if now.Before(leaf.NotBefore) {
		return match{}, unauthorized("The client certificate of '%s' is not valid before %s.", registrationID, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	if now.After(leaf.NotAfter) {
		return match{}, unauthorized("The client certificate of '%s' expired at %s.", registrationID, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if cn := leaf.Subject.CommonName; cn != registrationID {
		return match{}, unauthorized("The client certificate's subject CN %q is not the registration id '%s'.", cn, registrationID)
	}
	s1, s256 := thumbprints(leaf)
	if e := s.enrollments[key(registrationID)]; e != nil {
		if e.Attestation.Type != AttestX509 || e.Attestation.X509.ClientCertificates == nil {
			return match{}, unauthorized("The enrollment '%s' attests with %s, not a client certificate.", registrationID, e.Attestation.Type)
		}
		for _, c := range e.Attestation.certificates() {
			if a, b := thumbprints(c); a == s1 && b == s256 {
				return match{enrollment: e, method: AttestX509, leaf: leaf}, nil
			}
		}
		return match{}, unauthorized("The client certificate of '%s' (SHA-1 %s) is not one its enrollment lists.", registrationID, s1)
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	for _, gk := range sortedKeys(s.groups) {
		g := s.groups[gk]
		if g.Attestation.Type != AttestX509 {
			continue
		}
		roots := x509.NewCertPool()
		for _, c := range g.Attestation.certificates() {
			roots.AddCert(c)
		}
		_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		if err == nil {
			return match{group: g, method: AttestX509, leaf: leaf}, nil
		}
	}
	return match{}, unauthorized("No enrollment matches the client certificate of '%s': there is no individual enrollment with that registration id, and no X.509 group's signing certificate issued it.", registrationID)
}
