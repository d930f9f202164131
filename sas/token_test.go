package sas

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

const testKey = "NB8od74PPD3jjNrlu0L12lab0PZAWIVQPizAZTQ0otw="

// signAs builds a token the way a given SDK does: rawSr is sr as that SDK
// encodes it, and encodeSig is how it escapes the signature.
func signAs(rawSr string, se int64, encodeSig func(string) string, order []string, skn string) string {
	k, _ := base64.StdEncoding.DecodeString(testKey)
	h := hmac.New(sha256.New, k)
	h.Write([]byte(rawSr + "\n" + strconv.FormatInt(se, 10)))
	sig := encodeSig(base64.StdEncoding.EncodeToString(h.Sum(nil)))
	fields := map[string]string{"sr": rawSr, "sig": sig, "se": strconv.FormatInt(se, 10), "skn": skn}
	var parts []string
	for _, name := range order {
		if name == "skn" && skn == "" {
			continue
		}
		parts = append(parts, name+"="+fields[name])
	}
	return "SharedAccessSignature " + strings.Join(parts, "&")
}

func TestParseAndVerifySDKForms(t *testing.T) {
	se := time.Now().Add(time.Hour).Unix()
	rawSig := func(s string) string { return s }
	pathEsc := func(s string) string { return url.PathEscape(s) }
	queryEsc := url.QueryEscape
	pySig := func(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "%2F", "/") }
	tests := []struct {
		name    string
		token   string
		target  string
		wantRes string
		skn     string
	}{
		{"python device", signAs("localhost%2Fdevices%2Fdev1", se, queryEsc, []string{"sr", "sig", "se"}, ""), "localhost/devices/dev1", "localhost/devices/dev1", ""},
		{"node device lower-case escapes", signAs("localhost%2fdevices%2fdev1", se, pathEsc, []string{"sr", "sig", "se"}, ""), "localhost/devices/dev1", "localhost/devices/dev1", ""},
		{"node service raw sr", signAs("localhost", se, rawSig, []string{"sr", "sig", "skn", "se"}, "iothubowner"), "localhost/devices/x", "localhost", "iothubowner"},
		{"python service quote_plus, raw slash in sig", signAs("localhost%3A8443", se, pySig, []string{"sr", "sig", "se", "skn"}, "service"), "localhost:8443/twins/x", "localhost:8443", "service"},
		{"module resource", signAs("h%2Fdevices%2Fd%2Fmodules%2Fm", se, queryEsc, []string{"se", "sr", "sig"}, ""), "h/devices/d/modules/m", "h/devices/d/modules/m", ""},
		{"upper-case field names", strings.NewReplacer("sr=", "SR=", "sig=", "Sig=").Replace(signAs("h%2Fdevices%2Fd", se, queryEsc, []string{"sr", "sig", "se"}, "")), "h/devices/d", "h/devices/d", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := ParseToken(tc.token)
			if err != nil {
				t.Fatalf("ParseToken: %v", err)
			}
			if tok.Resource != tc.wantRes || tok.KeyName != tc.skn || tok.Expiry != se {
				t.Fatalf("got resource %q skn %q se %d", tok.Resource, tok.KeyName, tok.Expiry)
			}
			if !tok.VerifyKey(testKey) {
				t.Fatal("signature did not verify with the signing key")
			}
			if tok.VerifyKey("y/Zj70f+7jet605lDwhNIGB8soZa0ePIGld/jEjtp9s=") {
				t.Fatal("signature verified with another key")
			}
			if !tok.Covers(tc.target) {
				t.Fatalf("token for %q does not cover %q", tok.Resource, tc.target)
			}
		})
	}
}

func TestTamperedResourceFails(t *testing.T) {
	se := time.Now().Add(time.Hour).Unix()
	good := signAs("h%2Fdevices%2Fd1", se, url.QueryEscape, []string{"sr", "sig", "se"}, "")
	bad := strings.Replace(good, "d1", "d2", 1)
	tok, err := ParseToken(bad)
	if err != nil {
		t.Fatal(err)
	}
	if tok.VerifyKey(testKey) {
		t.Fatal("a token whose sr was changed still verifies")
	}
	// Re-encoding sr differently changes the signed bytes, so it must fail too.
	tok, err = ParseToken(strings.Replace(good, "%2F", "%2f", 1))
	if err != nil {
		t.Fatal(err)
	}
	if tok.VerifyKey(testKey) {
		t.Fatal("signature verified over an sr other than the one signed")
	}
}

func TestParseErrors(t *testing.T) {
	tests := []string{
		"",
		"Bearer abc",
		"SharedAccessSignature ",
		"SharedAccessSignature sr=h&sig=abc",   // no se
		"SharedAccessSignature sr=h&se=12",     // no sig
		"SharedAccessSignature sig=YWJj&se=12", // no sr
		"SharedAccessSignature sr=h&sig=YWJj&se=soon", // se not a number
		"SharedAccessSignature sr=h&sig=@@@&se=12",    // sig not base64
		"SharedAccessSignature sr=h&sig=YWJj&se=-5",   // negative expiry
		"SharedAccessSignature sr=%zz&sig=YWJj&se=12", // bad escape
		"SharedAccessSignature sr=h&sig=YWJj&se",      // field without '='
		"SharedAccessSignature sr=h&sig=YWJj&se=12&" + strings.Repeat("x", maxTokenLen),
	}
	for _, s := range tests {
		if _, err := ParseToken(s); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseToken(%.60q) = %v, want ErrMalformed", s, err)
		}
	}
}

func TestCovers(t *testing.T) {
	tests := []struct {
		resource, target string
		want             bool
	}{
		{"myhub", "myhub/devices/d1", true},
		{"MyHub", "myhub/devices/d1", true},
		{"myhub/devices", "myhub/devices/d1", true},
		{"myhub/devices/d1", "myhub/devices/d1", true},
		{"myhub/devices/d1", "myhub/devices/d1/modules/m", true},
		{"myhub/devices/d1/", "myhub/devices/d1", true},
		{"myhub/devices/d1", "myhub/devices/d10", false},
		{"myhub/devices/d1", "myhub/devices/d2", false},
		{"otherhub", "myhub/devices/d1", false},
		{"myhub/devices/d1/modules/m", "myhub/devices/d1", false},
	}
	for _, tc := range tests {
		tok := Token{Resource: tc.resource}
		if got := tok.Covers(tc.target); got != tc.want {
			t.Errorf("Covers(%q, %q) = %v, want %v", tc.resource, tc.target, got, tc.want)
		}
	}
}

func TestNewTokenRoundTrip(t *testing.T) {
	exp := time.Now().Add(time.Minute).Truncate(time.Second)
	s, err := NewToken("localhost/devices/dev 1", testKey, "device", exp)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ParseToken(s)
	if err != nil {
		t.Fatal(err)
	}
	if !tok.VerifyKey(testKey) || tok.Resource != "localhost/devices/dev 1" || tok.KeyName != "device" || !tok.ExpiresAt().Equal(exp) {
		t.Fatalf("round trip gave %+v", tok)
	}
	if tok.Expired(exp.Add(-time.Second)) || !tok.Expired(exp) {
		t.Fatal("expiry boundary wrong")
	}
}

func FuzzParseToken(f *testing.F) {
	se := time.Now().Add(time.Hour).Unix()
	f.Add(signAs("h%2Fdevices%2Fd", se, url.QueryEscape, []string{"sr", "sig", "se"}, ""))
	f.Add(signAs("h", se, func(s string) string { return s }, []string{"sr", "sig", "skn", "se"}, "iothubowner"))
	f.Add("SharedAccessSignature sr=&sig=&se=")
	f.Add("SharedAccessSignature ===&&&")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseToken(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		if tok.RawResource == "" || len(tok.Signature) == 0 || tok.Expiry < 0 {
			t.Fatalf("accepted an incomplete token: %+v", tok)
		}
		_ = tok.VerifyKey(testKey)
		_ = tok.Covers("h/devices/d")
	})
}

// AMQP clients sign audiences that are URIs; the scheme is dropped from
// Resource while the signature still covers the bytes sent.
func TestResourceURIScheme(t *testing.T) {
	exp := time.Now().Add(time.Minute)
	for _, tc := range []struct{ sr, want string }{
		{"sb://myhub.azure-devices.net/iothub-ehub-x", "myhub.azure-devices.net/iothub-ehub-x"},
		{"amqps://127.0.0.1/messages/devicebound", "127.0.0.1/messages/devicebound"},
		{"https://myhub", "myhub"},
		{"myhub/devices/a://b", "myhub/devices/a://b"}, // not a scheme: it follows a '/'
		{"myhub", "myhub"},
	} {
		s, err := NewToken(tc.sr, testKey, "iothubowner", exp)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := ParseToken(s)
		if err != nil {
			t.Fatal(err)
		}
		if tok.Resource != tc.want || !tok.VerifyKey(testKey) {
			t.Errorf("sr %q: Resource %q (want %q), verifies %v", tc.sr, tok.Resource, tc.want, tok.VerifyKey(testKey))
		}
	}
}

func TestEventHubsSigningAndFoldedCover(t *testing.T) {
	// The Event Hubs SDKs sign with the key's text, not its decoded bytes.
	exp := time.Now().Add(time.Minute).Unix()
	raw := url.QueryEscape("sb://127.0.0.1/iothub-ehub-x/consumergroups/$default/partitions/1")
	h := hmac.New(sha256.New, []byte(testKey))
	h.Write([]byte(raw + "\n" + strconv.FormatInt(exp, 10)))
	s := "SharedAccessSignature sr=" + raw + "&sig=" + url.QueryEscape(base64.StdEncoding.EncodeToString(h.Sum(nil))) + "&se=" + strconv.FormatInt(exp, 10) + "&skn=iothubowner"
	tok, err := ParseToken(s)
	if err != nil {
		t.Fatal(err)
	}
	if tok.VerifyKey(testKey) || !tok.VerifyKeyText(testKey) || tok.VerifyKeyText("other") {
		t.Fatalf("VerifyKey %v, VerifyKeyText %v", tok.VerifyKey(testKey), tok.VerifyKeyText(testKey))
	}
	target := "127.0.0.1/iothub-ehub-x/ConsumerGroups/$Default/Partitions/1"
	if tok.Covers(target) || !tok.CoversFold(target) || tok.CoversFold("127.0.0.1/iothub-ehub-x/ConsumerGroups/$Default/Partitions/10") {
		t.Fatalf("Covers %v, CoversFold %v", tok.Covers(target), tok.CoversFold(target))
	}
}
