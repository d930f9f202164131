// Package registry holds IoT Hub identities: devices, their keys and status,
// and the hub's shared access policies.
package registry

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// TimeFormat is how IoT Hub writes identity timestamps.
const TimeFormat = "2006-01-02T15:04:05.0000000Z"

// NeverTime is what IoT Hub shows for a time that was never set.
const NeverTime = "0001-01-01T00:00:00Z"

// Status values.
const (
	StatusEnabled  = "enabled"
	StatusDisabled = "disabled"
)

// Connection states.
const (
	Connected    = "Connected"
	Disconnected = "Disconnected"
)

// Authentication types.
const (
	AuthSAS                  = "sas"
	AuthSelfSigned           = "selfSigned"
	AuthCertificateAuthority = "certificateAuthority"
	AuthNone                 = "none"
)

// SymmetricKey is a pair of base64 keys.
type SymmetricKey struct {
	PrimaryKey   string `json:"primaryKey"`
	SecondaryKey string `json:"secondaryKey"`
}

// X509Thumbprint is a pair of certificate thumbprints; unset ones are null.
type X509Thumbprint struct {
	PrimaryThumbprint   *string `json:"primaryThumbprint"`
	SecondaryThumbprint *string `json:"secondaryThumbprint"`
}

// Authentication is an identity's credentials.
type Authentication struct {
	SymmetricKey   *SymmetricKey  `json:"symmetricKey"`
	X509Thumbprint X509Thumbprint `json:"x509Thumbprint"`
	Type           string         `json:"type"`
}

// Capabilities of a device.
type Capabilities struct {
	IotEdge bool `json:"iotEdge"`
}

// Device is a device identity as the REST API returns it.
type Device struct {
	DeviceID                   string         `json:"deviceId"`
	GenerationID               string         `json:"generationId"`
	ETag                       string         `json:"etag"`
	ConnectionState            string         `json:"connectionState"`
	Status                     string         `json:"status"`
	StatusReason               *string        `json:"statusReason"`
	ConnectionStateUpdatedTime string         `json:"connectionStateUpdatedTime"`
	StatusUpdatedTime          string         `json:"statusUpdatedTime"`
	LastActivityTime           string         `json:"lastActivityTime"`
	CloudToDeviceMessageCount  int            `json:"cloudToDeviceMessageCount"`
	Authentication             Authentication `json:"authentication"`
	Capabilities               Capabilities   `json:"capabilities"`
	DeviceScope                string         `json:"deviceScope,omitempty"`
	ParentScopes               []string       `json:"parentScopes,omitempty"`
}

// maxIDLen is IoT Hub's limit on device and module ids.
const maxIDLen = 128

// ValidateID checks a device or module id against IoT Hub's rules: at most
// 128 ASCII characters from letters, digits and - : . + % _ # * ? ! ( ) , = @ ; $ '.
func ValidateID(kind, id string) error {
	if id == "" {
		return errcode.New(errcode.ArgumentInvalid, "%s id must not be empty.", kind)
	}
	if len(id) > maxIDLen {
		return errcode.New(errcode.ArgumentInvalid, "%s id is longer than %d characters.", kind, maxIDLen)
	}
	for _, r := range id {
		if !validIDRune(r) {
			return errcode.New(errcode.ArgumentInvalid,
				"%s id %q is invalid: ids are case-sensitive strings of up to 128 ASCII letters, digits and the characters - : . + %% _ # * ? ! ( ) , = @ ; $ '.", kind, id)
		}
	}
	return nil
}

func validIDRune(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	}
	return strings.ContainsRune("-:.+%_#*?!(),=@;$'", r)
}

// NewKey returns a random 256-bit key in base64, like the hub generates.
func NewKey() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

// NewGenerationID returns an id that differs each time an identity is
// (re)created: like the hub's, a decimal count of 100 ns ticks since year 1.
func NewGenerationID(now time.Time) string {
	const unixEpochTicks = 621355968000000000
	return strconv.FormatInt(now.UnixNano()/100+unixEpochTicks, 10)
}

// ETag renders an identity etag from its change counter, like the hub's
// base64 of a decimal number.
func ETag(seq int64) string {
	return base64.StdEncoding.EncodeToString([]byte(strconv.FormatInt(seq, 10)))
}

// DeviceInput is what a PUT /devices/{id} body may set.
type DeviceInput struct {
	DeviceID       string          `json:"deviceId"`
	Status         string          `json:"status"`
	StatusReason   *string         `json:"statusReason"`
	Authentication *Authentication `json:"authentication"`
	Capabilities   *Capabilities   `json:"capabilities"`
	DeviceScope    string          `json:"deviceScope"`
	ParentScopes   []string        `json:"parentScopes"`
	ETag           string          `json:"etag"`
}

// ParseDeviceInput decodes and validates a PUT /devices/{id} body for id.
func ParseDeviceInput(id string, body []byte) (DeviceInput, error) {
	var in DeviceInput
	if len(strings.TrimSpace(string(body))) == 0 {
		return in, errcode.New(errcode.ArgumentNull, "The request body is empty; a device identity is required.")
	}
	// Through a wire shape whose authentication decodes in the same pass
	// (Authentication's own UnmarshalJSON would decode its bytes again).
	var w struct {
		DeviceInput
		Authentication *authInput `json:"authentication"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		return in, errcode.Wrap(errcode.ArgumentInvalid, err, "The request body is not a valid device identity: %s", jsonProblem(err))
	}
	in = w.DeviceInput
	in.Authentication = w.Authentication.authentication()
	return CheckDeviceInput(id, in)
}

// CheckDeviceInput validates a decoded device body for id, as
// ParseDeviceInput does after decoding: it fills the id, the status and
// generated keys, and refuses what the hub refuses. Callers that build an
// input in code (a seed document) check it here instead of encoding it to
// be parsed again. It fills in's Authentication, so in must not share it.
func CheckDeviceInput(id string, in DeviceInput) (DeviceInput, error) {
	if in.DeviceID == "" {
		in.DeviceID = id
	}
	if in.DeviceID != id {
		return in, errcode.New(errcode.ArgumentInvalid, "The deviceId %q in the body does not match the deviceId %q in the URL.", in.DeviceID, id)
	}
	switch strings.ToLower(in.Status) {
	case "":
		in.Status = StatusEnabled
	case StatusEnabled, StatusDisabled:
		in.Status = strings.ToLower(in.Status)
	default:
		return in, errcode.New(errcode.ArgumentInvalid, "status must be 'enabled' or 'disabled', not %q.", in.Status)
	}
	if err := normalizeAuth(&in.Authentication); err != nil {
		return in, err
	}
	return in, nil
}

// normalizeAuth fills generated keys and the type, as the hub does for a
// request that carries none.
func normalizeAuth(a **Authentication) error {
	if *a == nil {
		*a = &Authentication{}
	}
	auth := *a
	hasThumb := auth.X509Thumbprint.PrimaryThumbprint != nil && *auth.X509Thumbprint.PrimaryThumbprint != ""
	if auth.Type == "" {
		if hasThumb {
			auth.Type = AuthSelfSigned
		} else {
			auth.Type = AuthSAS
		}
	}
	switch auth.Type {
	case AuthSAS:
		if auth.SymmetricKey == nil {
			auth.SymmetricKey = &SymmetricKey{}
		}
		for _, k := range []*string{&auth.SymmetricKey.PrimaryKey, &auth.SymmetricKey.SecondaryKey} {
			if *k == "" {
				*k = NewKey()
				continue
			}
			if _, err := decodeKey(*k); err != nil {
				return errcode.New(errcode.ArgumentInvalid, "Symmetric keys must be base64 encoded and between 16 and 64 bytes long.")
			}
		}
	case AuthSelfSigned:
		if !hasThumb {
			return errcode.New(errcode.ArgumentInvalid, "A selfSigned device needs a primary thumbprint.")
		}
		auth.SymmetricKey = nil
	case AuthCertificateAuthority, AuthNone:
		auth.SymmetricKey = nil
	default:
		return errcode.New(errcode.ArgumentInvalid, "authentication.type %q is not one of sas, selfSigned, certificateAuthority, none.", auth.Type)
	}
	return nil
}

func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case asErr(err, &se):
		return fmt.Sprintf("invalid JSON at offset %d", se.Offset)
	case asErr(err, &te):
		return fmt.Sprintf("field %q has the wrong type", te.Field)
	default:
		return "invalid JSON"
	}
}

// authWire is Authentication as IoT Hub writes it: symmetricKey is always
// an object, with null keys for an identity that has none. The SDKs' models
// expect that (the Node registry sample reads
// authentication.symmetricKey.primaryKey of every listed device).
type authWire struct {
	SymmetricKey   keyWire        `json:"symmetricKey"`
	X509Thumbprint X509Thumbprint `json:"x509Thumbprint"`
	Type           string         `json:"type"`
}

type keyWire struct {
	PrimaryKey   *string `json:"primaryKey"`
	SecondaryKey *string `json:"secondaryKey"`
}

// MarshalJSON writes IoT Hub's shape.
func (a Authentication) MarshalJSON() ([]byte, error) {
	w := authWire{X509Thumbprint: a.X509Thumbprint, Type: a.Type}
	if k := a.SymmetricKey; k != nil {
		w.SymmetricKey = keyWire{&k.PrimaryKey, &k.SecondaryKey}
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads IoT Hub's shape; a symmetricKey that is null, or whose
// keys are both null or empty, is no key at all.
func (a *Authentication) UnmarshalJSON(b []byte) error {
	var w authInput
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*a = *w.authentication()
	return nil
}

// authInput is Authentication as bodies and records carry it.
type authInput struct {
	SymmetricKey   *keyWire       `json:"symmetricKey"`
	X509Thumbprint X509Thumbprint `json:"x509Thumbprint"`
	Type           string         `json:"type"`
}

// authentication is w as an Authentication (nil for a nil w).
func (w *authInput) authentication() *Authentication {
	if w == nil {
		return nil
	}
	a := &Authentication{X509Thumbprint: w.X509Thumbprint, Type: w.Type}
	if k := w.SymmetricKey; k != nil {
		var sk SymmetricKey
		if k.PrimaryKey != nil {
			sk.PrimaryKey = *k.PrimaryKey
		}
		if k.SecondaryKey != nil {
			sk.SecondaryKey = *k.SecondaryKey
		}
		if sk != (SymmetricKey{}) {
			a.SymmetricKey = &sk
		}
	}
	return a
}
