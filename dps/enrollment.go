package dps

import (
	"bytes"
	"crypto/sha1" //nolint:gosec // DPS shows SHA-1 thumbprints of enrolled certificates.
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/jsontext"
	"github.com/iothub-emulator/iothub-emulator/registry"
	"github.com/iothub-emulator/iothub-emulator/twin"
)

// Attestation types.
const (
	AttestSymmetricKey = "symmetricKey"
	AttestX509         = "x509"
	AttestTPM          = "tpm"
)

// Provisioning statuses of an enrollment.
const (
	StatusEnabled  = "enabled"
	StatusDisabled = "disabled"
)

// Enrollment is an individual enrollment or an enrollment group, as the
// service API sends and returns it. One type serves both: a group has
// EnrollmentGroupID and no RegistrationID or DeviceID.
type Enrollment struct {
	RegistrationID    string `json:"registrationId,omitempty"`
	EnrollmentGroupID string `json:"enrollmentGroupId,omitempty"`
	DeviceID          string `json:"deviceId,omitempty"`

	Attestation        *Attestation       `json:"attestation"`
	Capabilities       *Capabilities      `json:"capabilities,omitempty"`
	IoTHubHostName     string             `json:"iotHubHostName,omitempty"`
	InitialTwin        *InitialTwin       `json:"initialTwin,omitempty"`
	ETag               string             `json:"etag,omitempty"`
	ProvisioningStatus string             `json:"provisioningStatus,omitempty"`
	ReprovisionPolicy  *ReprovisionPolicy `json:"reprovisionPolicy,omitempty"`
	AllocationPolicy   string             `json:"allocationPolicy,omitempty"`
	IoTHubs            []string           `json:"iotHubs,omitempty"`
	// CustomAllocationDefinition (a webhook) is kept as sent and not called.
	CustomAllocationDefinition json.RawMessage `json:"customAllocationDefinition,omitempty"`
	OptionalDeviceInformation  json.RawMessage `json:"optionalDeviceInformation,omitempty"`

	CreatedDateTimeUTC     string `json:"createdDateTimeUtc,omitempty"`
	LastUpdatedDateTimeUTC string `json:"lastUpdatedDateTimeUtc,omitempty"`

	// RegistrationState is shown on an individual enrollment once its
	// device has registered; never stored with the enrollment.
	RegistrationState *RegistrationState `json:"registrationState,omitempty"`
}

// Attestation is an enrollment's attestation mechanism.
type Attestation struct {
	Type         string        `json:"type"`
	SymmetricKey *SymmetricKey `json:"symmetricKey,omitempty"`
	X509         *X509         `json:"x509,omitempty"`
	TPM          any           `json:"tpm,omitempty"`
}

// SymmetricKey is a symmetric-key attestation's key pair.
type SymmetricKey struct {
	PrimaryKey   string `json:"primaryKey"`
	SecondaryKey string `json:"secondaryKey"`
}

// X509 is an X.509 attestation: client certificates for an individual
// enrollment, signing certificates for a group.
type X509 struct {
	ClientCertificates  *X509Certificates `json:"clientCertificates,omitempty"`
	SigningCertificates *X509Certificates `json:"signingCertificates,omitempty"`
	CAReferences        *X509CAReferences `json:"caReferences,omitempty"`
}

// X509Certificates is a primary and an optional secondary certificate.
type X509Certificates struct {
	Primary   *X509Certificate `json:"primary,omitempty"`
	Secondary *X509Certificate `json:"secondary,omitempty"`
}

// X509Certificate is a certificate as sent (PEM, or base64 DER) and,
// once stored, the information DPS shows about it.
type X509Certificate struct {
	Certificate string    `json:"certificate,omitempty"`
	Info        *CertInfo `json:"info,omitempty"`
}

// CertInfo is what DPS returns of an enrolled certificate.
type CertInfo struct {
	SubjectName      string `json:"subjectName"`
	SHA1Thumbprint   string `json:"sha1Thumbprint"`
	SHA256Thumbprint string `json:"sha256Thumbprint"`
	IssuerName       string `json:"issuerName"`
	NotBeforeUTC     string `json:"notBeforeUtc"`
	NotAfterUTC      string `json:"notAfterUtc"`
	SerialNumber     string `json:"serialNumber"`
	Version          int    `json:"version"`
}

// X509CAReferences name CAs uploaded to the service; the emulator has
// none to name.
type X509CAReferences struct {
	Primary   string `json:"primary,omitempty"`
	Secondary string `json:"secondary,omitempty"`
}

// Capabilities of the device an enrollment provisions.
type Capabilities struct {
	IoTEdge bool `json:"iotEdge"`
}

// InitialTwin is the twin an enrollment gives its device on first
// assignment.
type InitialTwin struct {
	Tags       json.RawMessage        `json:"tags,omitempty"`
	Properties *InitialTwinProperties `json:"properties,omitempty"`
}

// InitialTwinProperties holds the initial desired properties.
type InitialTwinProperties struct {
	Desired json.RawMessage `json:"desired,omitempty"`
}

// ReprovisionPolicy says what happens when a device registers again.
// Absent fields are true, as in DPS.
type ReprovisionPolicy struct {
	UpdateHubAssignment *bool `json:"updateHubAssignment,omitempty"`
	MigrateDeviceData   *bool `json:"migrateDeviceData,omitempty"`
}

func (p *ReprovisionPolicy) updateHub() bool {
	return p == nil || p.UpdateHubAssignment == nil || *p.UpdateHubAssignment
}

func (p *ReprovisionPolicy) migrate() bool {
	return p == nil || p.MigrateDeviceData == nil || *p.MigrateDeviceData
}

// id is the enrollment's key: its registration id or group id.
func (e *Enrollment) id() string {
	if e.EnrollmentGroupID != "" {
		return e.EnrollmentGroupID
	}
	return e.RegistrationID
}

func (e *Enrollment) enabled() bool { return e.ProvisioningStatus != StatusDisabled }

// badRequest is DPS's answer to a body it cannot accept.
func badRequest(format string, args ...any) error {
	return errcode.New(errcode.ArgumentInvalid, format, args...)
}

// maxIDLen is DPS's limit on registration and enrollment group ids.
const maxIDLen = 128

// ValidateRegistrationID checks a registration id (or enrollment group id)
// against DPS's rules: 1 to 128 characters from letters, digits and
// - . _ :, ending in a letter, digit or '-'.
func ValidateRegistrationID(what, id string) error {
	if id == "" {
		return badRequest("The %s is missing.", what)
	}
	if len(id) > maxIDLen {
		return badRequest("The %s '%s' is longer than %d characters.", what, id, maxIDLen)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._:", r)) {
			return badRequest("The %s '%s' has the character %q; only letters, digits and - . _ : are allowed.", what, id, r)
		}
	}
	if last := id[len(id)-1]; last == '.' || last == '_' || last == ':' {
		return badRequest("The %s '%s' must end in a letter, a digit or '-'.", what, id)
	}
	return nil
}

// parseEnrollment decodes and checks a PUT body for the enrollment (group
// when group is true) named id in the URL, filling in what DPS fills in:
// generated keys, certificate information, the device id, defaults.
func parseEnrollment(body []byte, id string, group bool) (*Enrollment, error) {
	// The decoder would store invalid text as U+FFFD instead of refusing it.
	if err := jsontext.Check(body); err != nil {
		return nil, badRequest("The enrollment body is not valid JSON text: %v", err)
	}
	var e Enrollment
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&e); err != nil {
		return nil, badRequest("The enrollment body is not valid JSON for an enrollment: %v", err)
	}
	if dec.More() {
		return nil, badRequest("The enrollment body has data after its JSON object.")
	}
	what := "registration id"
	if group {
		what = "enrollment group id"
		if e.EnrollmentGroupID == "" {
			e.EnrollmentGroupID = id
		}
		if !strings.EqualFold(e.EnrollmentGroupID, id) {
			return nil, badRequest("The body's enrollmentGroupId '%s' is not the '%s' of the URL.", e.EnrollmentGroupID, id)
		}
		if e.RegistrationID != "" || e.DeviceID != "" {
			return nil, badRequest("An enrollment group has no registrationId or deviceId; each device's registration id is its own.")
		}
	} else {
		if e.EnrollmentGroupID != "" {
			return nil, badRequest("An individual enrollment has no enrollmentGroupId; enrollment groups are written under /enrollmentGroups.")
		}
		if e.RegistrationID == "" {
			e.RegistrationID = id
		}
		if !strings.EqualFold(e.RegistrationID, id) {
			return nil, badRequest("The body's registrationId '%s' is not the '%s' of the URL.", e.RegistrationID, id)
		}
	}
	if err := ValidateRegistrationID(what, e.id()); err != nil {
		return nil, err
	}
	if e.DeviceID != "" {
		if err := registry.ValidateID("Device", e.DeviceID); err != nil {
			return nil, badRequest("The enrollment's deviceId is not a valid device id: %s", errcode.From(err).Message)
		}
	}
	if err := e.checkAttestation(group); err != nil {
		return nil, err
	}
	switch e.ProvisioningStatus {
	case "":
		e.ProvisioningStatus = StatusEnabled
	case StatusEnabled, StatusDisabled:
	default:
		return nil, badRequest("provisioningStatus '%s' is neither '%s' nor '%s'.", e.ProvisioningStatus, StatusEnabled, StatusDisabled)
	}
	switch strings.ToLower(e.AllocationPolicy) {
	case "", "hashed", "geolatency", "static", "custom":
	default:
		return nil, badRequest("allocationPolicy '%s' is not one of hashed, geoLatency, static, custom.", e.AllocationPolicy)
	}
	if _, err := e.InitialTwin.body(); err != nil {
		return nil, err
	}
	e.RegistrationState = nil
	return &e, nil
}

// body is the initial twin as a REST twin body (nil when there is none),
// checked by the twin rules the hub will apply.
func (t *InitialTwin) body() ([]byte, error) {
	if t == nil || (len(t.Tags) == 0 && (t.Properties == nil || len(t.Properties.Desired) == 0)) {
		return nil, nil
	}
	doc := map[string]json.RawMessage{}
	if len(t.Tags) > 0 && !bytes.Equal(bytes.TrimSpace(t.Tags), []byte("null")) {
		doc["tags"] = t.Tags
	}
	if t.Properties != nil && len(t.Properties.Desired) > 0 && !bytes.Equal(bytes.TrimSpace(t.Properties.Desired), []byte("null")) {
		desired, err := json.Marshal(map[string]json.RawMessage{"desired": t.Properties.Desired})
		if err != nil {
			return nil, badRequest("The initial twin's desired properties are not valid JSON: %v", err)
		}
		doc["properties"] = desired
	}
	if len(doc) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, badRequest("The initial twin is not valid JSON: %v", err)
	}
	if _, err := twin.ParseServiceBody(b); err != nil {
		return nil, badRequest("The initial twin cannot be applied: %s", errcode.From(err).Message)
	}
	return b, nil
}

// checkAttestation checks the attestation and completes it: keys are
// generated when absent, certificates are parsed and described.
func (e *Enrollment) checkAttestation(group bool) error {
	a := e.Attestation
	if a == nil {
		return badRequest("The enrollment has no attestation mechanism.")
	}
	switch a.Type {
	case AttestSymmetricKey:
		if a.SymmetricKey == nil {
			a.SymmetricKey = &SymmetricKey{}
		}
		for _, k := range []*string{&a.SymmetricKey.PrimaryKey, &a.SymmetricKey.SecondaryKey} {
			if *k == "" {
				*k = registry.NewKey()
				continue
			}
			raw, err := base64.StdEncoding.DecodeString(*k)
			if err != nil || len(raw) < 16 || len(raw) > 64 {
				return badRequest("A symmetric key must be base64 of 16 to 64 bytes.")
			}
		}
		a.X509, a.TPM = nil, nil
	case AttestX509:
		if a.X509 == nil {
			return badRequest("An x509 attestation needs its x509 certificates.")
		}
		x := a.X509
		if x.CAReferences != nil {
			return badRequest("CA references name certificates uploaded to a provisioning service, which the emulator does not keep; enroll the signing certificate itself (signingCertificates).")
		}
		certs, want, other := x.ClientCertificates, "clientCertificates", x.SigningCertificates
		if group {
			certs, want, other = x.SigningCertificates, "signingCertificates", x.ClientCertificates
		}
		if other != nil {
			return badRequest("An x509 attestation of an %s has %s only.", map[bool]string{true: "enrollment group", false: "individual enrollment"}[group], want)
		}
		if certs == nil || certs.Primary == nil {
			return badRequest("An x509 attestation needs a primary certificate in %s.", want)
		}
		for _, c := range []*X509Certificate{certs.Primary, certs.Secondary} {
			if c == nil {
				continue
			}
			if err := c.complete(); err != nil {
				return err
			}
		}
		a.SymmetricKey, a.TPM = nil, nil
	case AttestTPM:
		return badRequest("TPM attestation is not emulated; enroll the device with a symmetric key or an X.509 certificate.")
	default:
		return badRequest("Attestation type '%s' is not one of symmetricKey, x509, tpm.", a.Type)
	}
	return nil
}

// complete parses the certificate (PEM, or base64 of DER as some tools
// send it) and sets its information.
func (c *X509Certificate) complete() error {
	cert, err := ParseCertificate(c.Certificate)
	if err != nil {
		return badRequest("The enrolled certificate cannot be read: %v", err)
	}
	c.Certificate = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))
	c.Info = certInfo(cert)
	return nil
}

// ParseCertificate reads one certificate, PEM or base64 of DER.
func ParseCertificate(text string) (*x509.Certificate, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, errors.New("no certificate")
	}
	var der []byte
	if block, _ := pem.Decode([]byte(text)); block != nil {
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %q is not a CERTIFICATE", block.Type)
		}
		der = block.Bytes
	} else {
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(text), ""))
		if err != nil {
			return nil, errors.New("neither PEM nor base64")
		}
		der = b
	}
	return x509.ParseCertificate(der)
}

func certInfo(c *x509.Certificate) *CertInfo {
	s1, s256 := thumbprints(c)
	return &CertInfo{
		SubjectName:      c.Subject.String(),
		SHA1Thumbprint:   s1,
		SHA256Thumbprint: s256,
		IssuerName:       c.Issuer.String(),
		NotBeforeUTC:     c.NotBefore.UTC().Format(time.RFC3339),
		NotAfterUTC:      c.NotAfter.UTC().Format(time.RFC3339),
		SerialNumber:     strings.ToUpper(c.SerialNumber.Text(16)),
		Version:          c.Version,
	}
}

// thumbprints are a certificate's SHA-1 and SHA-256 thumbprints, upper-case hex.
func thumbprints(c *x509.Certificate) (sha1Hex, sha256Hex string) {
	s1, s256 := sha1.Sum(c.Raw), sha256.Sum256(c.Raw) //nolint:gosec // see import
	return strings.ToUpper(hex.EncodeToString(s1[:])), strings.ToUpper(hex.EncodeToString(s256[:]))
}

// certificates are the parsed certificates of an X.509 attestation
// (primary first); they were checked when the enrollment was stored.
func (a *Attestation) certificates() []*x509.Certificate {
	if a == nil || a.X509 == nil {
		return nil
	}
	set := a.X509.ClientCertificates
	if set == nil {
		set = a.X509.SigningCertificates
	}
	if set == nil {
		return nil
	}
	var out []*x509.Certificate
	for _, c := range []*X509Certificate{set.Primary, set.Secondary} {
		if c == nil {
			continue
		}
		if cert, err := ParseCertificate(c.Certificate); err == nil {
			out = append(out, cert)
		}
	}
	return out
}

// public is the enrollment as the service API returns it: X.509
// certificates are described by their information, not returned, and
// symmetric keys are shown (DPS returns them to its owner policy).
func (e *Enrollment) public() *Enrollment {
	out := *e
	if a := e.Attestation; a != nil && a.X509 != nil {
		ac := *a
		xc := *a.X509
		strip := func(set *X509Certificates) *X509Certificates {
			if set == nil {
				return nil
			}
			s := *set
			for _, c := range []**X509Certificate{&s.Primary, &s.Secondary} {
				if *c != nil {
					*c = &X509Certificate{Info: (*c).Info}
				}
			}
			return &s
		}
		xc.ClientCertificates, xc.SigningCertificates = strip(xc.ClientCertificates), strip(xc.SigningCertificates)
		ac.X509 = &xc
		out.Attestation = &ac
	}
	return &out
}
