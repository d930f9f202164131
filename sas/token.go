// Package sas implements IoT Hub shared access signatures and connection
// strings: parsing, signing and verification.
package sas

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const prefix = "SharedAccessSignature "

// Sentinel errors; callers map them to IoT Hub's IotHubUnauthorized.
var (
	ErrMalformed = errors.New("malformed shared access signature")
	ErrExpired   = errors.New("shared access signature expired")
	ErrSignature = errors.New("shared access signature does not match")
	ErrScope     = errors.New("shared access signature does not cover the resource")
)

// Token is a parsed SAS token.
type Token struct {
	// RawResource is sr exactly as sent: the signature covers these bytes, so
	// it is never decoded and re-encoded before verification.
	RawResource string
	// Resource is sr percent-decoded, without any URI scheme: "host",
	// "host/devices/id", ... AMQP clients send audiences such as
	// "sb://host/entity" or "amqps://host/path"; the scheme does not change
	// what the token covers.
	Resource  string
	Signature []byte // decoded HMAC
	Expiry    int64  // se, seconds since the Unix epoch
	KeyName   string // skn; "" when signed with an identity's own key
}

// maxTokenLen bounds the work done on hostile input; real tokens are well under 1 KB.
const maxTokenLen = 4096

// ParseToken parses "SharedAccessSignature sr=...&sig=...&se=...[&skn=...]".
// Fields may come in any order and their names in any case.
func ParseToken(s string) (Token, error) {
	if len(s) > maxTokenLen {
		return Token{}, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, maxTokenLen)
	}
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return Token{}, fmt.Errorf("%w: missing %q prefix", ErrMalformed, strings.TrimSpace(prefix))
	}
	var t Token
	var haveSig, haveSe, haveSr bool
	for _, field := range strings.Split(s[len(prefix):], "&") {
		name, value, ok := strings.Cut(field, "=")
		if !ok {
			return Token{}, fmt.Errorf("%w: field %q has no value", ErrMalformed, field)
		}
		switch strings.ToLower(name) {
		case "sr":
			res, err := url.PathUnescape(value)
			if err != nil || res == "" {
				return Token{}, fmt.Errorf("%w: bad sr", ErrMalformed)
			}
			t.RawResource, t.Resource, haveSr = value, stripScheme(res), true
		case "sig":
			dec, err := url.PathUnescape(value)
			if err != nil {
				return Token{}, fmt.Errorf("%w: bad sig encoding", ErrMalformed)
			}
			sig, err := base64.StdEncoding.DecodeString(dec)
			if err != nil || len(sig) == 0 {
				return Token{}, fmt.Errorf("%w: sig is not base64", ErrMalformed)
			}
			t.Signature, haveSig = sig, true
		case "se":
			dec, err := url.PathUnescape(value)
			if err != nil {
				return Token{}, fmt.Errorf("%w: bad se", ErrMalformed)
			}
			se, err := strconv.ParseInt(dec, 10, 64)
			if err != nil || se < 0 {
				return Token{}, fmt.Errorf("%w: se is not a number of seconds", ErrMalformed)
			}
			t.Expiry, haveSe = se, true
		case "skn":
			dec, err := url.PathUnescape(value)
			if err != nil {
				return Token{}, fmt.Errorf("%w: bad skn", ErrMalformed)
			}
			t.KeyName = dec
		default:
			// Unknown fields are ignored, as the SDK parsers do.
		}
	}
	if !haveSr || !haveSig || !haveSe {
		return Token{}, fmt.Errorf("%w: sr, sig and se are required", ErrMalformed)
	}
	return t, nil
}

// stripScheme drops a leading "scheme://" from a resource URI.
func stripScheme(res string) string {
	if i := strings.Index(res, "://"); i > 0 && !strings.ContainsAny(res[:i], "/.") {
		return res[i+3:]
	}
	return res
}

// ExpiresAt is the token's expiry as a time.
func (t Token) ExpiresAt() time.Time { return time.Unix(t.Expiry, 0) }

// Expired reports whether the token has expired at now.
func (t Token) Expired(now time.Time) bool { return now.Unix() >= t.Expiry }

// VerifyKey reports whether the token was signed with the base64 key.
func (t Token) VerifyKey(key string) bool {
	k, err := base64.StdEncoding.DecodeString(key)
	if err != nil || len(k) == 0 {
		return false
	}
	return hmac.Equal(t.Signature, mac(k, t.RawResource, t.Expiry))
}

// VerifyKeyText reports whether the token was signed with the key's text
// itself rather than its base64-decoded bytes: the Service Bus and Event
// Hubs SDKs sign that way, and IoT Hub's Event Hubs-compatible endpoint
// accepts their tokens for the hub's policy keys.
func (t Token) VerifyKeyText(key string) bool {
	if key == "" {
		return false
	}
	return hmac.Equal(t.Signature, mac([]byte(key), t.RawResource, t.Expiry))
}

// Covers reports whether the token's resource covers target ("host/devices/id"):
// the host compares case-insensitively and the path must be a segment-wise
// prefix of the target's ("host/devices" covers "host/devices/d1", not
// "host/devicesX").
func (t Token) Covers(target string) bool { return t.covers(target, false) }

// CoversFold is Covers with the path compared regardless of case: AMQP
// clients lowercase the audiences they sign (azeventhubs does), and
// Event Hubs entity paths are case-insensitive.
func (t Token) CoversFold(target string) bool { return t.covers(target, true) }

func (t Token) covers(target string, fold bool) bool {
	res := strings.TrimSuffix(t.Resource, "/")
	rh, rp, _ := strings.Cut(res, "/")
	th, tp, _ := strings.Cut(target, "/")
	if !strings.EqualFold(rh, th) {
		return false
	}
	if rp == "" {
		return true
	}
	if fold {
		rp, tp = strings.ToLower(rp), strings.ToLower(tp)
	}
	return tp == rp || strings.HasPrefix(tp, rp+"/")
}

func mac(key []byte, rawResource string, expiry int64) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(rawResource + "\n" + strconv.FormatInt(expiry, 10)))
	return h.Sum(nil)
}

// NewToken signs resource ("host/devices/id") with the base64 key until
// expiry; keyName is the policy name, or "" for an identity key.
func NewToken(resource, key, keyName string, expiry time.Time) (string, error) {
	k, err := base64.StdEncoding.DecodeString(key)
	if err != nil {
		return "", fmt.Errorf("sas: key is not base64: %w", err)
	}
	sr := escape(resource)
	se := expiry.Unix()
	sig := base64.StdEncoding.EncodeToString(mac(k, sr, se))
	tok := prefix + "sr=" + sr + "&sig=" + escape(sig) + "&se=" + strconv.FormatInt(se, 10)
	if keyName != "" {
		tok += "&skn=" + escape(keyName)
	}
	return tok, nil
}

// escape percent-encodes like encodeURIComponent: a space becomes %20, never
// '+', because verifiers decode sr without treating '+' as a space.
func escape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}
