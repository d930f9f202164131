package blobstore

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// SASVersion is the service version the SAS tokens minted here carry: the
// first whose string-to-sign has the encryption-scope line.
const SASVersion = "2020-12-06"

// oldestSASVersion is the oldest version whose string-to-sign (with the
// signed resource and snapshot lines) the checker knows.
const oldestSASVersion = "2018-11-09"

// sasTimeLayout is how Azure Storage writes st and se.
const sasTimeLayout = "2006-01-02T15:04:05Z"

// SAS describes a service SAS for one blob.
type SAS struct {
	Permissions string // of "racwd", in that order
	Start       time.Time
	Expiry      time.Time
}

// SignBlobSAS returns the query string (without '?') of a service SAS
// (sr=b) for account/container/blob, signed with the base64 account key as
// Azure Storage's service-SAS spec asks (HMAC-SHA256 over the
// string-to-sign of version SASVersion).
func SignBlobSAS(account, key, container, blob string, s SAS) (string, error) {
	return signSAS(account, key, container, blob, "b", s)
}

// SignContainerSAS returns the query string of a service SAS for a whole
// container (sr=c), as import and export jobs take: Permissions may then
// include l (list) beside racwd.
func SignContainerSAS(account, key, container string, s SAS) (string, error) {
	return signSAS(account, key, container, "", "c", s)
}

func signSAS(account, key, container, blob, sr string, s SAS) (string, error) {
	k, err := base64.StdEncoding.DecodeString(key)
	if err != nil {
		return "", fmt.Errorf("blobstore: account key is not base64: %w", err)
	}
	q := url.Values{}
	q.Set("sv", SASVersion)
	q.Set("sr", sr)
	q.Set("sp", s.Permissions)
	if !s.Start.IsZero() {
		q.Set("st", s.Start.UTC().Format(sasTimeLayout))
	}
	q.Set("se", s.Expiry.UTC().Format(sasTimeLayout))
	q.Set("sig", base64.StdEncoding.EncodeToString(sign(k, stringToSign(q, canonicalResource(account, container, blob, sr)))))
	return q.Encode(), nil
}

// canonicalResource is the resource line of the string-to-sign.
func canonicalResource(account, container, blob, sr string) string {
	if sr == "c" {
		return "/blob/" + account + "/" + container
	}
	return "/blob/" + account + "/" + container + "/" + blob
}

// stringToSign is the service SAS's string-to-sign for q's version, with
// no stored access policy or user delegation key.
func stringToSign(q url.Values, resource string) string {
	lines := []string{q.Get("sp"), q.Get("st"), q.Get("se"), resource, q.Get("si"), q.Get("sip"), q.Get("spr"), q.Get("sv"), q.Get("sr"), q.Get("sst")}
	if q.Get("sv") >= SASVersion {
		lines = append(lines, q.Get("ses"))
	}
	lines = append(lines, q.Get("rscc"), q.Get("rscd"), q.Get("rsce"), q.Get("rscl"), q.Get("rsct"))
	return strings.Join(lines, "\n")
}

func sign(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return m.Sum(nil)
}

// errAuth is why a request's SAS was refused; its text is the
// AuthenticationErrorDetail of the error body.
type errAuth struct{ detail string }

func (e *errAuth) Error() string { return e.detail }

func authFailed(format string, args ...any) error {
	return &errAuth{detail: fmt.Sprintf(format, args...)}
}

// checkSAS verifies the service SAS in q for container/blob under the
// account key, as of now, and that it grants perm (one letter). secure
// says whether the request came over TLS, for spr.
func checkSAS(q url.Values, account string, key []byte, container, blob string, perm byte, secure bool, now time.Time) error {
	sig := q.Get("sig")
	if sig == "" {
		return authFailed("The request carries no shared access signature.")
	}
	sv, sr := q.Get("sv"), q.Get("sr")
	if sv < oldestSASVersion {
		return authFailed("Signed version %q is not supported.", sv)
	}
	if sr != "b" && sr != "c" {
		return authFailed("Signed resource %q is not supported: only b and c are.", sr)
	}
	if q.Get("si") != "" {
		return authFailed("Stored access policies are not supported.")
	}
	want := sign(key, stringToSign(q, canonicalResource(account, container, blob, sr)))
	got, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || subtle.ConstantTimeCompare(got, want) != 1 {
		return authFailed("Signature did not match.")
	}
	se, err := time.Parse(time.RFC3339, q.Get("se"))
	if err != nil {
		return authFailed("Signed expiry %q is not a valid time.", q.Get("se"))
	}
	if !now.Before(se) {
		return authFailed("Signed expiry time [%s] must be after signed start time and the current time [%s].", se.UTC().Format(time.RFC1123), now.UTC().Format(time.RFC1123))
	}
	if st := q.Get("st"); st != "" {
		t, err := time.Parse(time.RFC3339, st)
		if err != nil {
			return authFailed("Signed start %q is not a valid time.", st)
		}
		if now.Before(t) {
			return authFailed("Signed start time [%s] is after the current time.", t.UTC().Format(time.RFC1123))
		}
	}
	if spr := q.Get("spr"); spr != "" && spr != "https,http" && spr != "http,https" && !(spr == "https" && secure) {
		return authFailed("This request is not authorized to be made over this protocol.")
	}
	if !strings.ContainsRune(q.Get("sp"), rune(perm)) && !(perm == 'c' && strings.ContainsRune(q.Get("sp"), 'w')) {
		return errPermission
	}
	return nil
}

// errPermission is a valid SAS that does not grant the operation.
var errPermission = errors.New("blobstore: the SAS does not grant the operation")
