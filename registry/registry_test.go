package registry

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

func TestValidateID(t *testing.T) {
	tests := []struct {
		id string
		ok bool
	}{
		{"myDevice", true},
		{"dev-1:a.b+c%d_e#f*g?h!i(j)k,l=m@n;o$p'q", true},
		{strings.Repeat("a", 128), true},
		{strings.Repeat("a", 129), false},
		{"", false},
		{"has space", false},
		{"slash/inside", false},
		{"ümlaut", false},
		{"tab\t", false},
		{"quote\"", false},
	}
	for _, tc := range tests {
		err := ValidateID("Device", tc.id)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateID(%q) = %v, want ok=%v", tc.id, err, tc.ok)
		}
		if err != nil && !errcode.Is(err, errcode.ArgumentInvalid) {
			t.Errorf("ValidateID(%q) error %v is not ArgumentInvalid", tc.id, err)
		}
	}
}

func TestParseDeviceInput(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		wantCode errcode.Code
		check    func(t *testing.T, in DeviceInput)
	}{
		{name: "minimal body gets sas keys", body: `{"deviceId":"d1"}`, check: func(t *testing.T, in DeviceInput) {
			if in.Status != StatusEnabled || in.Authentication.Type != AuthSAS || len(in.Authentication.SymmetricKey.PrimaryKey) != 44 ||
				in.Authentication.SymmetricKey.PrimaryKey == in.Authentication.SymmetricKey.SecondaryKey {
				t.Fatalf("got %+v %+v", in, in.Authentication.SymmetricKey)
			}
		}},
		{name: "node empty keys are generated", body: `{"deviceId":"d1","authentication":{"type":"sas","symmetricKey":{"primaryKey":"","secondaryKey":""}}}`, check: func(t *testing.T, in DeviceInput) {
			if in.Authentication.SymmetricKey.PrimaryKey == "" || in.Authentication.SymmetricKey.SecondaryKey == "" {
				t.Fatal("keys not generated")
			}
		}},
		{name: "given keys kept", body: `{"deviceId":"d1","authentication":{"symmetricKey":{"primaryKey":"NB8od74PPD3jjNrlu0L12lab0PZAWIVQPizAZTQ0otw=","secondaryKey":"y/Zj70f+7jet605lDwhNIGB8soZa0ePIGld/jEjtp9s="}}}`, check: func(t *testing.T, in DeviceInput) {
			if in.Authentication.SymmetricKey.PrimaryKey != "NB8od74PPD3jjNrlu0L12lab0PZAWIVQPizAZTQ0otw=" {
				t.Fatal("given key replaced")
			}
		}},
		{name: "missing id takes the URL's", body: `{"status":"Disabled"}`, check: func(t *testing.T, in DeviceInput) {
			if in.DeviceID != "d1" || in.Status != StatusDisabled {
				t.Fatalf("got %+v", in)
			}
		}},
		{name: "thumbprint means selfSigned", body: `{"authentication":{"x509Thumbprint":{"primaryThumbprint":"ABCD"}}}`, check: func(t *testing.T, in DeviceInput) {
			if in.Authentication.Type != AuthSelfSigned || in.Authentication.SymmetricKey != nil {
				t.Fatalf("got %+v", in.Authentication)
			}
		}},
		{name: "id mismatch", body: `{"deviceId":"other"}`, wantCode: errcode.ArgumentInvalid},
		{name: "bad status", body: `{"status":"paused"}`, wantCode: errcode.ArgumentInvalid},
		{name: "bad key", body: `{"authentication":{"symmetricKey":{"primaryKey":"short"}}}`, wantCode: errcode.ArgumentInvalid},
		{name: "bad type", body: `{"authentication":{"type":"magic"}}`, wantCode: errcode.ArgumentInvalid},
		{name: "not json", body: `{"deviceId":`, wantCode: errcode.ArgumentInvalid},
		{name: "wrong field type", body: `{"status":5}`, wantCode: errcode.ArgumentInvalid},
		{name: "empty", body: ``, wantCode: errcode.ArgumentNull},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in, err := ParseDeviceInput("d1", []byte(tc.body))
			if tc.wantCode != 0 {
				if !errcode.Is(err, tc.wantCode) {
					t.Fatalf("err = %v, want %v", err, tc.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, in)
		})
	}
}

func TestPolicies(t *testing.T) {
	ps := WellKnownPolicies()
	want := map[string]Permission{
		"iothubowner":       RegistryRead | RegistryWrite | ServiceConnect | DeviceConnect,
		"service":           ServiceConnect,
		"device":            DeviceConnect,
		"registryRead":      RegistryRead,
		"registryReadWrite": RegistryRead | RegistryWrite,
	}
	for name, rights := range want {
		p, ok := ps.Find(name)
		if !ok || p.Rights != rights {
			t.Errorf("policy %s = %+v, want rights %v", name, p, rights)
		}
		if _, err := decodeKey(p.PrimaryKey); err != nil {
			t.Errorf("policy %s primary key: %v", name, err)
		}
	}
	k := NewKey()
	replaced, err := ps.WithKeys(map[string]string{"iothubowner": k})
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := replaced.Find("iothubowner"); p.PrimaryKey != k || p.SecondaryKey != k {
		t.Fatalf("WithKeys did not replace: %+v", p)
	}
	if p, _ := ps.Find("iothubowner"); p.PrimaryKey == k {
		t.Fatal("WithKeys changed the original")
	}
	if _, err := ps.WithKeys(map[string]string{"nope": k}); err == nil {
		t.Fatal("unknown policy accepted")
	}
	if _, err := ps.WithKeys(map[string]string{"service": "abc"}); err == nil {
		t.Fatal("bad key accepted")
	}
	if a, b := ps.RandomKeys(), ps.RandomKeys(); a[0].PrimaryKey == b[0].PrimaryKey {
		t.Fatal("random keys repeat")
	}
}

func TestGenerationIDAndETag(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if a, b := NewGenerationID(now), NewGenerationID(now.Add(time.Microsecond)); a == b || len(a) != 18 {
		t.Fatalf("generation ids %q %q", a, b)
	}
	if ETag(1) != "MQ==" || ETag(498348339) != "NDk4MzQ4MzM5" {
		t.Fatalf("ETag(1)=%s ETag(498348339)=%s", ETag(1), ETag(498348339))
	}
}

func TestParseModuleInput(t *testing.T) {
	in, err := ParseModuleInput("d1", "m1", []byte(`{"moduleId":"m1","deviceId":"d1"}`))
	if err != nil || in.Authentication.Type != AuthSAS || in.Authentication.SymmetricKey.PrimaryKey == "" {
		t.Fatalf("got %+v, %v", in, err)
	}
	in, err = ParseModuleInput("d1", "m1", []byte(`{"managedBy":"IotEdge"}`))
	if err != nil || in.ModuleID != "m1" || in.DeviceID != "d1" || in.ManagedBy != "IotEdge" {
		t.Fatalf("ids from the URL: %+v, %v", in, err)
	}
	for _, body := range []string{`{"moduleId":"m2"}`, `{"deviceId":"d2"}`, `{`, ``, `{"authentication":{"type":"nope"}}`} {
		if _, err := ParseModuleInput("d1", "m1", []byte(body)); err == nil {
			t.Errorf("body %q accepted", body)
		}
	}
}

// IoT Hub writes symmetricKey as an object with null keys for identities
// without keys, and the SDK samples dereference it; the shape reads back to
// the same model.
func TestAuthenticationWireShape(t *testing.T) {
	thumb := "ABC123"
	tests := []struct {
		name string
		auth Authentication
		want string
	}{
		{"sas", Authentication{SymmetricKey: &SymmetricKey{PrimaryKey: "cA==", SecondaryKey: "cw=="}, Type: AuthSAS},
			`{"symmetricKey":{"primaryKey":"cA==","secondaryKey":"cw=="},"x509Thumbprint":{"primaryThumbprint":null,"secondaryThumbprint":null},"type":"sas"}`},
		{"self-signed", Authentication{X509Thumbprint: X509Thumbprint{PrimaryThumbprint: &thumb}, Type: AuthSelfSigned},
			`{"symmetricKey":{"primaryKey":null,"secondaryKey":null},"x509Thumbprint":{"primaryThumbprint":"ABC123","secondaryThumbprint":null},"type":"selfSigned"}`},
		{"ca", Authentication{Type: AuthCertificateAuthority},
			`{"symmetricKey":{"primaryKey":null,"secondaryKey":null},"x509Thumbprint":{"primaryThumbprint":null,"secondaryThumbprint":null},"type":"certificateAuthority"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.auth)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Fatalf("wire\n got %s\nwant %s", b, tt.want)
			}
			var back Authentication
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			b2, _ := json.Marshal(back)
			if string(b2) != tt.want || (back.SymmetricKey == nil) != (tt.auth.SymmetricKey == nil) {
				t.Fatalf("round trip: %s, key %v", b2, back.SymmetricKey)
			}
		})
	}
	// Requests may send null, an empty object, or omit the member.
	for _, in := range []string{`{"type":"sas"}`, `{"symmetricKey":null}`, `{"symmetricKey":{}}`, `{"symmetricKey":{"primaryKey":null,"secondaryKey":""}}`} {
		var a Authentication
		if err := json.Unmarshal([]byte(in), &a); err != nil || a.SymmetricKey != nil {
			t.Errorf("Unmarshal(%s) = %+v, %v; want no key", in, a.SymmetricKey, err)
		}
	}
}

// TestCheckMatchesParse: checking an input built in code gives what
// encoding it and parsing the body gave (the seeder did that before it
// called the checks directly), apart from the random keys both generate.
func TestCheckMatchesParse(t *testing.T) {
	key := "MDEyMzQ1Njc4OWFiY2RlZg=="
	str := func(s string) *string { return &s }
	reason := "maintenance"
	devices := []DeviceInput{
		{},
		{DeviceID: "d1", Status: "Disabled", StatusReason: &reason},
		{DeviceID: "d1", Status: "paused"},
		{DeviceID: "other"},
		{Authentication: &Authentication{Type: AuthSAS, SymmetricKey: &SymmetricKey{}}},
		{Authentication: &Authentication{Type: AuthSAS, SymmetricKey: &SymmetricKey{PrimaryKey: key}}},
		{Authentication: &Authentication{Type: AuthSAS, SymmetricKey: &SymmetricKey{PrimaryKey: key, SecondaryKey: key}}},
		{Authentication: &Authentication{Type: AuthSAS, SymmetricKey: &SymmetricKey{PrimaryKey: "not base64"}}},
		{Authentication: &Authentication{Type: AuthSelfSigned, X509Thumbprint: X509Thumbprint{PrimaryThumbprint: str("AB"), SecondaryThumbprint: str("")}}},
		{Authentication: &Authentication{Type: AuthSelfSigned, X509Thumbprint: X509Thumbprint{PrimaryThumbprint: str("")}}},
		{Authentication: &Authentication{Type: AuthCertificateAuthority, SymmetricKey: &SymmetricKey{}}},
		{Authentication: &Authentication{Type: AuthNone}},
		{Authentication: &Authentication{Type: "weird"}},
		{Authentication: &Authentication{}, Capabilities: &Capabilities{IotEdge: true}, DeviceScope: "s", ParentScopes: []string{"p"}},
	}
	deviceAuth := func(d *DeviceInput) **Authentication { return &d.Authentication }
	for i, in := range devices {
		sameCheck(t, fmt.Sprintf("device %d", i), in, deviceAuth,
			func(b []byte) (DeviceInput, error) { return ParseDeviceInput("d1", b) },
			func(d DeviceInput) (DeviceInput, error) { return CheckDeviceInput("d1", d) })
	}

	modules := []ModuleInput{
		{},
		{ModuleID: "m1", DeviceID: "d1", ManagedBy: "IotEdge"},
		{ModuleID: "m2"},
		{Authentication: &Authentication{Type: AuthSAS, SymmetricKey: &SymmetricKey{SecondaryKey: key}}},
		{Authentication: &Authentication{Type: AuthSelfSigned}},
	}
	moduleAuth := func(m *ModuleInput) **Authentication { return &m.Authentication }
	for i, in := range modules {
		sameCheck(t, fmt.Sprintf("module %d", i), in, moduleAuth,
			func(b []byte) (ModuleInput, error) { return ParseModuleInput("d1", "m1", b) },
			func(m ModuleInput) (ModuleInput, error) { return CheckModuleInput("d1", "m1", m) })
	}
}

// sameCheck checks that the input check makes of in (given a copy of its
// authentication, which check fills) is the one parse makes of in encoded,
// or that both refuse it alike.
func sameCheck[T any](t *testing.T, what string, in T, auth func(*T) **Authentication, parse func([]byte) (T, error), check func(T) (T, error)) {
	t.Helper()
	body, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	parsed, perr := parse(body)
	cp := in
	if a := *auth(&cp); a != nil {
		c := cloneAuth(*a)
		*auth(&cp) = &c
	}
	checked, cerr := check(cp)
	if fmt.Sprint(perr) != fmt.Sprint(cerr) {
		t.Errorf("%s: parse says %v, check says %v", what, perr, cerr)
		return
	}
	if perr != nil {
		return
	}
	given := *auth(&in)
	maskKeys(t, *auth(&parsed), given)
	maskKeys(t, *auth(&checked), given)
	p, _ := json.Marshal(parsed)
	c, _ := json.Marshal(checked)
	if string(p) != string(c) {
		t.Errorf("%s:\nparse %s\ncheck %s", what, p, c)
	}
}

func cloneAuth(a Authentication) Authentication {
	if a.SymmetricKey != nil {
		k := *a.SymmetricKey
		a.SymmetricKey = &k
	}
	return a
}

// maskKeys replaces the keys the registry generated (those the input left
// empty) with a fixed text, after checking that they were generated.
func maskKeys(t *testing.T, got, in *Authentication) {
	t.Helper()
	if got == nil || got.SymmetricKey == nil {
		return
	}
	var given SymmetricKey
	if in != nil && in.SymmetricKey != nil {
		given = *in.SymmetricKey
	}
	for _, k := range []struct {
		got   *string
		given string
	}{{&got.SymmetricKey.PrimaryKey, given.PrimaryKey}, {&got.SymmetricKey.SecondaryKey, given.SecondaryKey}} {
		if k.given != "" {
			continue
		}
		if *k.got == "" {
			t.Errorf("no key was generated")
		}
		*k.got = "generated"
	}
}
