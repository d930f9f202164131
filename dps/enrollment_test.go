package dps

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
)

// Every bad body is refused with a message naming the problem, and
// nothing is stored.
func TestEnrollmentValidation(t *testing.T) {
	self := testkit.NewCert(t, "dev1", nil, testkit.CertOptions{})
	sk := func(p, s string) string {
		return `{"attestation":{"type":"symmetricKey","symmetricKey":{"primaryKey":"` + p + `","secondaryKey":"` + s + `"}}}`
	}
	x509 := func(inner string) string { return `{"attestation":{"type":"x509","x509":` + inner + `}}` }
	okCert := `{"certificate":` + string(mustJSON(t, certPEM(self))) + `}`
	tests := []struct {
		name, id string
		group    bool
		body     string
		want     string // in the message
	}{
		{"not JSON", "dev1", false, `{"attestation":`, "not valid JSON"},
		{"not an object", "dev1", false, `[]`, "not valid JSON"},
		{"data after the object", "dev1", false, sk(key1, key2) + `{}`, "after its JSON object"},
		{"another registration id", "dev1", false, `{"registrationId":"dev2","attestation":{"type":"symmetricKey"}}`, "not the 'dev1' of the URL"},
		{"another group id", "g1", true, `{"enrollmentGroupId":"g2","attestation":{"type":"symmetricKey"}}`, "not the 'g1' of the URL"},
		{"group with a registration id", "g1", true, `{"registrationId":"x","attestation":{"type":"symmetricKey"}}`, "has no registrationId"},
		{"individual with a group id", "dev1", false, `{"enrollmentGroupId":"g1","attestation":{"type":"symmetricKey"}}`, "has no enrollmentGroupId"},
		{"invalid Unicode", "dev1", false, "{\"deviceId\":\"\xff\",\"attestation\":{\"type\":\"symmetricKey\"}}", "not valid JSON text"},
		{"group with a device id", "g1", true, `{"deviceId":"x","attestation":{"type":"symmetricKey"}}`, "has no registrationId or deviceId"},
		{"empty id", "", false, sk(key1, key2), "missing"},
		{"bad character", "dev 1", false, sk(key1, key2), "only letters"},
		{"ends in a dot", "dev1.", false, sk(key1, key2), "must end in"},
		{"too long", strings.Repeat("a", 129), false, sk(key1, key2), "longer than 128"},
		{"bad device id", "dev1", false, `{"deviceId":"a/b","attestation":{"type":"symmetricKey"}}`, "not a valid device id"},
		{"no attestation", "dev1", false, `{}`, "no attestation"},
		{"unknown type", "dev1", false, `{"attestation":{"type":"password"}}`, "not one of symmetricKey"},
		{"tpm", "dev1", false, `{"attestation":{"type":"tpm","tpm":{"endorsementKey":"AAAA"}}}`, "TPM attestation is not emulated"},
		{"key not base64", "dev1", false, sk("!!!", key2), "base64 of 16 to 64 bytes"},
		{"key too short", "dev1", false, sk(base64.StdEncoding.EncodeToString(make([]byte, 8)), key2), "base64 of 16 to 64 bytes"},
		{"key too long", "dev1", false, sk(key1, base64.StdEncoding.EncodeToString(make([]byte, 65))), "base64 of 16 to 64 bytes"},
		{"x509 without certificates", "dev1", false, `{"attestation":{"type":"x509"}}`, "needs its x509 certificates"},
		{"x509 with CA references", "dev1", false, x509(`{"caReferences":{"primary":"ca1"}}`), "CA references"},
		{"individual with signing certificates", "dev1", false, x509(`{"signingCertificates":{"primary":` + okCert + `}}`), "has clientCertificates only"},
		{"group with client certificates", "g1", true, x509(`{"clientCertificates":{"primary":` + okCert + `}}`), "has signingCertificates only"},
		{"no primary certificate", "dev1", false, x509(`{"clientCertificates":{"secondary":` + okCert + `}}`), "needs a primary certificate"},
		{"certificate not readable", "dev1", false, x509(`{"clientCertificates":{"primary":{"certificate":"hello"}}}`), "cannot be read"},
		{"a key instead of a certificate", "dev1", false, x509(`{"clientCertificates":{"primary":{"certificate":"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}}}`), "is not a CERTIFICATE"},
		{"bad provisioning status", "dev1", false, `{"provisioningStatus":"on","attestation":{"type":"symmetricKey"}}`, "provisioningStatus 'on'"},
		{"bad allocation policy", "dev1", false, `{"allocationPolicy":"random","attestation":{"type":"symmetricKey"}}`, "allocationPolicy 'random'"},
		{"initial twin tags not an object", "dev1", false, `{"initialTwin":{"tags":5},"attestation":{"type":"symmetricKey"}}`, "initial twin"},
		{"initial twin with a $ property", "dev1", false, `{"initialTwin":{"properties":{"desired":{"$x":1}}},"attestation":{"type":"symmetricKey"}}`, "initial twin"},
	}
	e := newEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseEnrollment([]byte(tt.body), tt.id, tt.group)
			wantCode(t, err, errcode.ArgumentInvalid)
			if msg := errcode.From(err).Message; !strings.Contains(msg, tt.want) {
				t.Fatalf("message %q does not say %q", msg, tt.want)
			}
			put := e.svc.PutEnrollment
			if tt.group {
				put = e.svc.PutEnrollmentGroup
			}
			if _, err := put(ctx(t), tt.id, []byte(tt.body), ""); !errcode.Is(err, errcode.ArgumentInvalid) {
				t.Fatalf("Put: %v", err)
			}
		})
	}
	if n, g, r := e.svc.Counts(); n+g+r != 0 {
		t.Fatalf("bad bodies stored %d enrollments, %d groups, %d registrations", n, g, r)
	}
	e.reopen()
	if n, g, _ := e.svc.Counts(); n+g != 0 {
		t.Fatalf("bad bodies reached the store: %d, %d", n, g)
	}
}

func TestEnrollmentGeneratedKeysAndDefaults(t *testing.T) {
	e := newEnv(t)
	got, err := e.svc.PutEnrollment(ctx(t), "dev1", []byte(`{"attestation":{"type":"symmetricKey"}}`), "")
	if err != nil {
		t.Fatal(err)
	}
	k := got.Attestation.SymmetricKey
	for _, key := range []string{k.PrimaryKey, k.SecondaryKey} {
		if raw, err := base64.StdEncoding.DecodeString(key); err != nil || len(raw) < 16 {
			t.Fatalf("generated key %q", key)
		}
	}
	if k.PrimaryKey == k.SecondaryKey {
		t.Fatal("the generated keys are the same")
	}
	if got.RegistrationID != "dev1" || got.ProvisioningStatus != StatusEnabled || got.IoTHubHostName != "localhost" ||
		len(got.IoTHubs) != 1 || got.CreatedDateTimeUTC == "" || got.CreatedDateTimeUTC != got.LastUpdatedDateTimeUTC || got.ETag == "" {
		t.Fatalf("defaults = %+v", got)
	}
	// The keys stay what they were generated as.
	again, err := e.svc.GetEnrollment("DEV1")
	if err != nil || again.Attestation.SymmetricKey.PrimaryKey != k.PrimaryKey {
		t.Fatalf("GET (any case) = %+v, %v", again, err)
	}
	// An X.509 enrollment has no keys; a symmetric one no certificates.
	cert := testkit.NewCert(t, "dev2", nil, testkit.CertOptions{})
	body := `{"attestation":{"type":"symmetricKey","x509":{"clientCertificates":{"primary":{"certificate":` + string(mustJSON(t, certPEM(cert))) + `}}}}}`
	got, err = e.svc.PutEnrollment(ctx(t), "dev2", []byte(body), "")
	if err != nil || got.Attestation.X509 != nil {
		t.Fatalf("symmetric with x509 = %+v, %v", got, err)
	}
}

func TestEnrollmentCertificateInfo(t *testing.T) {
	e := newEnv(t)
	root := testkit.NewCert(t, "Root CA", nil, testkit.CertOptions{IsCA: true})
	leaf := testkit.NewCert(t, "dev1", root, testkit.CertOptions{})
	second := testkit.NewCert(t, "dev1", nil, testkit.CertOptions{})
	// The secondary as base64 of DER, as some tools send it.
	der := base64.StdEncoding.EncodeToString(second.Cert.Raw)
	got, err := e.svc.PutEnrollment(ctx(t), "dev1", x509Body(t, false, certPEM(leaf), der), "")
	if err != nil {
		t.Fatal(err)
	}
	set := got.Attestation.X509.ClientCertificates
	info := set.Primary.Info
	want := CertInfo{
		SubjectName: "CN=dev1", IssuerName: "CN=Root CA",
		SHA1Thumbprint: leaf.SHA1(), SHA256Thumbprint: leaf.SHA256(),
		SerialNumber: strings.ToUpper(leaf.Cert.SerialNumber.Text(16)), Version: 3,
		NotBeforeUTC: leaf.Cert.NotBefore.UTC().Format("2006-01-02T15:04:05Z"),
		NotAfterUTC:  leaf.Cert.NotAfter.UTC().Format("2006-01-02T15:04:05Z"),
	}
	if *info != want {
		t.Fatalf("info = %+v\nwant   %+v", *info, want)
	}
	if set.Secondary.Info.SHA256Thumbprint != second.SHA256() {
		t.Fatalf("secondary info = %+v", set.Secondary.Info)
	}
	// The service shows the information, not the certificate.
	if set.Primary.Certificate != "" || set.Secondary.Certificate != "" {
		t.Fatal("the certificate text is returned")
	}
	// It keeps the certificates (both as PEM), for authentication and export.
	certs := e.svc.enrollments["dev1"].Attestation.certificates()
	if len(certs) != 2 || !certs[0].Equal(leaf.Cert) || !certs[1].Equal(second.Cert) {
		t.Fatalf("stored certificates = %v", certs)
	}
	if s := e.svc.enrollments["dev1"].Attestation.X509.ClientCertificates.Secondary.Certificate; !strings.HasPrefix(s, "-----BEGIN CERTIFICATE-----") {
		t.Fatalf("stored secondary = %q", s)
	}
	g, err := e.svc.PutEnrollmentGroup(ctx(t), "g1", x509Body(t, true, certPEM(root)), "")
	if err != nil || g.Attestation.X509.SigningCertificates.Primary.Info.SubjectName != "CN=Root CA" {
		t.Fatalf("group = %+v, %v", g, err)
	}
}

func TestEnrollmentETags(t *testing.T) {
	for _, group := range []bool{false, true} {
		t.Run(map[bool]string{false: "enrollment", true: "group"}[group], func(t *testing.T) {
			e := newEnv(t)
			put, get, del := e.svc.PutEnrollment, e.svc.GetEnrollment, e.svc.DeleteEnrollment
			if group {
				put, get, del = e.svc.PutEnrollmentGroup, e.svc.GetEnrollmentGroup, e.svc.DeleteEnrollmentGroup
			}
			body := symmetric(t, nil)
			_, err := put(ctx(t), "e1", body, `"x"`)
			wantCode(t, err, errcode.ProvisioningNotFound) // If-Match on nothing
			_, err = put(ctx(t), "e1", body, "*")
			wantCode(t, err, errcode.ProvisioningNotFound)
			first, err := put(ctx(t), "e1", body, "")
			if err != nil {
				t.Fatal(err)
			}
			for _, stale := range []string{`"stale"`, `""`, "W/\"nope\""} {
				_, err = put(ctx(t), "e1", symmetric(t, map[string]any{"provisioningStatus": "disabled"}), stale)
				wantCode(t, err, errcode.PreconditionFailed)
			}
			if cur, _ := get("e1"); cur.ETag != first.ETag || cur.ProvisioningStatus != StatusEnabled {
				t.Fatalf("a refused replace changed %+v", cur)
			}
			second, err := put(ctx(t), "e1", symmetric(t, map[string]any{"provisioningStatus": "disabled"}), first.ETag)
			if err != nil || second.ETag == first.ETag || second.ProvisioningStatus != StatusDisabled || second.CreatedDateTimeUTC != first.CreatedDateTimeUTC {
				t.Fatalf("replace = %+v, %v", second, err)
			}
			third, err := put(ctx(t), "e1", body, "*")
			if err != nil {
				t.Fatal(err)
			}
			wantCode(t, del(ctx(t), "e1", second.ETag), errcode.PreconditionFailed)
			if _, err := get("e1"); err != nil {
				t.Fatalf("a refused delete deleted: %v", err)
			}
			if err := del(ctx(t), "e1", strings.Trim(third.ETag, `"`)); err != nil {
				t.Fatalf("delete with the unquoted etag: %v", err)
			}
			_, err = get("e1")
			wantCode(t, err, errcode.ProvisioningNotFound)
			wantCode(t, del(ctx(t), "e1", ""), errcode.ProvisioningNotFound)
		})
	}
}

func TestValidateRegistrationID(t *testing.T) {
	for _, tt := range []struct {
		id string
		ok bool
	}{
		{"a", true}, {"dev-1.a_b:c", true}, {"A9-", true}, {strings.Repeat("x", 128), true},
		{"", false}, {strings.Repeat("x", 129), false}, {"a.", false}, {"a_", false}, {"a:", false},
		{"a b", false}, {"a/b", false}, {"é", false}, {"a#", false},
	} {
		if err := ValidateRegistrationID("registration id", tt.id); (err == nil) != tt.ok {
			t.Errorf("%q: %v, want ok=%v", tt.id, err, tt.ok)
		}
	}
}
