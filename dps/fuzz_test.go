package dps

import (
	"encoding/json"
	"testing"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// FuzzParseEnrollment: any body is refused with ArgumentInvalid or gives
// an enrollment that is complete and stable: its id is the URL's, its
// status known, and parsing it again gives it back.
func FuzzParseEnrollment(f *testing.F) {
	for _, s := range []string{
		`{"attestation":{"type":"symmetricKey"}}`,
		`{"registrationId":"dev1","attestation":{"type":"symmetricKey","symmetricKey":{"primaryKey":"` + key1 + `","secondaryKey":"` + key2 + `"}},"initialTwin":{"tags":{"a":1},"properties":{"desired":{"b":{"c":null}}}}}`,
		`{"attestation":{"type":"x509","x509":{"clientCertificates":{"primary":{"certificate":"MIIB"}}}}}`,
		`{"provisioningStatus":"disabled","reprovisionPolicy":{"migrateDeviceData":false},"attestation":{"type":"tpm"}}`,
		`{"enrollmentGroupId":"g1","attestation":{"type":"symmetricKey"}}`,
		`[`, `null`, `{}`,
	} {
		f.Add([]byte(s), "dev1", false)
		f.Add([]byte(s), "g1", true)
	}
	f.Fuzz(func(t *testing.T, body []byte, id string, group bool) {
		e, err := parseEnrollment(body, id, group)
		if err != nil {
			if !errcode.Is(err, errcode.ArgumentInvalid) {
				t.Fatalf("refused with %v", err)
			}
			return
		}
		if e.id() == "" || ValidateRegistrationID("id", e.id()) != nil || (e.ProvisioningStatus != StatusEnabled && e.ProvisioningStatus != StatusDisabled) {
			t.Fatalf("accepted %+v", e)
		}
		if e.Attestation.Type == AttestSymmetricKey && (e.Attestation.SymmetricKey.PrimaryKey == "" || e.Attestation.SymmetricKey.SecondaryKey == "") {
			t.Fatalf("a symmetric key enrollment without keys: %+v", e.Attestation)
		}
		again, err := parseEnrollment(mustJSON(t, e), id, group)
		if err != nil {
			t.Fatalf("the parsed enrollment is refused: %v", err)
		}
		if a, b := mustJSON(t, again), mustJSON(t, e); string(a) != string(b) {
			t.Fatalf("parsing again changed\n%s\nto\n%s", b, a)
		}
	})
}

// FuzzParseRegisterBody: any body is refused with ArgumentInvalid or
// gives a payload that is JSON.
func FuzzParseRegisterBody(f *testing.F) {
	for _, s := range []string{``, `{}`, `{"registrationId":"dev1","payload":{"a":1}}`, `{"payload":null}`, `{"registrationId":"x"}`, `[1]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		rb, err := parseRegisterBody("dev1", body)
		if err != nil {
			if !errcode.Is(err, errcode.ArgumentInvalid) {
				t.Fatalf("refused with %v", err)
			}
			return
		}
		if rb.Payload != nil && !json.Valid(rb.Payload) {
			t.Fatalf("payload %q is not JSON", rb.Payload)
		}
	})
}

// FuzzCheckQuery: any body is accepted or refused with ArgumentInvalid,
// never anything else.
func FuzzCheckQuery(f *testing.F) {
	for _, s := range []string{``, `{"query":"SELECT * FROM enrollments"}`, `{"query":"select * from x where y"}`, `{"query":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if err := checkQuery(body, "enrollments", "registrations"); err != nil && !errcode.Is(err, errcode.ArgumentInvalid) {
			t.Fatalf("refused with %v", err)
		}
	})
}
