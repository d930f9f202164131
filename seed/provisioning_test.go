package seed

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/dps"
	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/hub"
	"github.com/iothub-emulator/iothub-emulator/internal/storetest"
	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
	"github.com/iothub-emulator/iothub-emulator/sas"
)

// emulator is a hub with its provisioning service on one store.
type emulator struct {
	hub  *hub.Hub
	prov *dps.Service
	seed *Seeder
}

func newEmulator(t *testing.T) emulator {
	t.Helper()
	st := storetest.Temp(t)
	h := newHubOn(t, st, nil)
	p, err := dps.Open(dps.Options{Store: st, Hub: h})
	if err != nil {
		t.Fatal(err)
	}
	return emulator{hub: h, prov: p, seed: NewSeeder(h, WithProvisioning(p))}
}

func pemOf(c *testkit.Cert) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw}))
}

// indent indents every line of text by n spaces, for YAML block scalars.
func indent(text string, n int) string {
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(strings.TrimRight(text, "\n"), "\n", "\n"+pad)
}

// provisioningSeed is a YAML document with every DPS section.
func provisioningSeed(t *testing.T) (text string, root, device *testkit.Cert) {
	t.Helper()
	root = testkit.NewCert(t, "Seed Root", nil, testkit.CertOptions{IsCA: true, NotAfter: time.Now().Add(24 * time.Hour)})
	device = testkit.NewCert(t, "cam1", nil, testkit.CertOptions{NotAfter: time.Now().Add(24 * time.Hour)})
	text = `devices:
  - id: plain
x509CAs:
  - |
` + indent(pemOf(root), 4) + `
enrollmentGroups:
  - enrollmentGroupId: fleet
    attestation:
      type: symmetricKey
      symmetricKey: {primaryKey: ` + keyA + `, secondaryKey: ` + keyB + `}
    initialTwin:
      tags: {site: lab}
  - enrollmentGroupId: certs
    attestation:
      type: x509
      x509:
        signingCertificates:
          primary:
            certificate: |
` + indent(pemOf(root), 14) + `
enrollments:
  - registrationId: dev1
    deviceId: device-one
    provisioningStatus: enabled
    capabilities: {iotEdge: true}
    reprovisionPolicy: {updateHubAssignment: true, migrateDeviceData: false}
    attestation:
      type: symmetricKey
      symmetricKey: {primaryKey: ` + keyC + `, secondaryKey: ` + keyD + `}
    initialTwin:
      tags: {floor: 2}
      properties:
        desired: {rate: 5}
  - registrationId: cam1
    attestation:
      type: x509
      x509:
        clientCertificates:
          primary:
            certificate: |
` + indent(pemOf(device), 14) + `
`
	return text, root, device
}

func TestProvisioningSectionsApplyAndRoundTrip(t *testing.T) {
	text, root, _ := provisioningSeed(t)
	a := newEmulator(t)
	res, err := a.seed.Import(testContext(t), []byte(text), FormatYAML)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"x509CA CN=Seed Root", "plain", "enrollmentGroup fleet", "enrollmentGroup certs", "enrollment dev1", "enrollment cam1"}
	if !slices.Equal(res.Created, want) {
		t.Fatalf("created %v, want %v", res.Created, want)
	}
	if cas := a.hub.AddedCAs(); len(cas) != 1 || !cas[0].Equal(root.Cert) {
		t.Fatalf("trusted CAs %v", cas)
	}
	e, err := a.prov.GetEnrollment("dev1")
	if err != nil || e.DeviceID != "device-one" || !e.Capabilities.IoTEdge || e.Attestation.SymmetricKey.PrimaryKey != keyC {
		t.Fatalf("dev1 = %+v, %v", e, err)
	}

	// Applying again changes nothing, not even etags.
	before, _ := a.prov.GetEnrollmentGroup("fleet")
	res, err = a.seed.Import(testContext(t), []byte(text), FormatYAML)
	if err != nil || len(res.Created)+len(res.Updated) != 0 || len(res.Unchanged) != len(want) {
		t.Fatalf("second import = %+v, %v", res, err)
	}
	if after, _ := a.prov.GetEnrollmentGroup("fleet"); after.ETag != before.ETag {
		t.Fatal("a second import moved the group's etag")
	}

	// Export → import into an empty emulator → export gives the same, in
	// either format.
	for _, format := range []string{FormatYAML, FormatJSON} {
		t.Run(format, func(t *testing.T) {
			exported, _, err := a.seed.Export(testContext(t), format)
			if err != nil {
				t.Fatal(err)
			}
			for _, must := range []string{keyA, keyC, "BEGIN CERTIFICATE", "device-one", "migrateDeviceData"} {
				if !strings.Contains(string(exported), must) {
					t.Fatalf("the export lacks %q:\n%s", must, exported)
				}
			}
			for _, mustNot := range []string{"etag", "sha1Thumbprint", "registrationState", "createdDateTimeUtc"} {
				if strings.Contains(string(exported), mustNot) {
					t.Fatalf("the export has %q:\n%s", mustNot, exported)
				}
			}
			b := newEmulator(t)
			if _, err := b.seed.Import(testContext(t), exported, format); err != nil {
				t.Fatalf("import of the export: %v\n%s", err, exported)
			}
			again, _, err := b.seed.Export(testContext(t), format)
			if err != nil {
				t.Fatal(err)
			}
			if string(again) != string(exported) {
				t.Fatalf("the round trip changed the document:\n%s\nto\n%s", exported, again)
			}
			// A device registers with the seeded group key on the imported one.
			k, _ := dps.DeviceKey(keyA, "sensor-1")
			tok, _ := sas.NewToken(dps.DefaultIDScope+"/registrations/sensor-1", k, "registration", time.Now().Add(time.Hour))
			op, err := b.prov.Register(testContext(t), dps.DefaultIDScope, "sensor-1", dps.Credential{Token: tok}, nil)
			if err != nil {
				t.Fatal(err)
			}
			st, err := b.prov.OperationStatus(dps.DefaultIDScope, "sensor-1", op.OperationID, dps.Credential{Token: tok})
			if err != nil || st.Status != dps.RegAssigned {
				t.Fatalf("registration on the imported emulator = %+v, %v", st, err)
			}
		})
	}
}

// The seeded CA makes the hub accept a CA-signed device.
func TestSeededCAIsTrusted(t *testing.T) {
	text, root, _ := provisioningSeed(t)
	a := newEmulator(t)
	if _, err := a.seed.Import(testContext(t), []byte(text), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := a.hub.PutDevice(testContext(t), "ca-dev", []byte(`{"authentication":{"type":"certificateAuthority"}}`), ""); err != nil {
		t.Fatal(err)
	}
	leaf := testkit.NewCert(t, "ca-dev", root, testkit.CertOptions{})
	if err := a.hub.AuthenticateDeviceX509("ca-dev", "", []*x509.Certificate{leaf.Cert}); err != nil {
		t.Fatalf("a device signed by the seeded CA: %v", err)
	}
}

// Keys a document leaves out are generated once and kept.
func TestEnrollmentKeysLeftOutAreKept(t *testing.T) {
	a := newEmulator(t)
	doc := `{"devices":[],"enrollments":[{"registrationId":"dev1","attestation":{"type":"symmetricKey"}}],
	         "enrollmentGroups":[{"enrollmentGroupId":"g1","attestation":{"type":"symmetricKey","symmetricKey":{"primaryKey":"` + keyA + `"}}}]}`
	if _, err := a.seed.Import(testContext(t), []byte(doc), FormatJSON); err != nil {
		t.Fatal(err)
	}
	first, _ := a.prov.GetEnrollment("dev1")
	g, _ := a.prov.GetEnrollmentGroup("g1")
	if first.Attestation.SymmetricKey.PrimaryKey == "" || g.Attestation.SymmetricKey.PrimaryKey != keyA || g.Attestation.SymmetricKey.SecondaryKey == "" {
		t.Fatalf("keys %+v %+v", first.Attestation.SymmetricKey, g.Attestation.SymmetricKey)
	}
	res, err := a.seed.Import(testContext(t), []byte(doc), FormatJSON)
	if err != nil || len(res.Unchanged) != 2 {
		t.Fatalf("again = %+v, %v", res, err)
	}
	if again, _ := a.prov.GetEnrollment("dev1"); again.Attestation.SymmetricKey != nil && *again.Attestation.SymmetricKey != *first.Attestation.SymmetricKey {
		t.Fatal("the generated keys changed")
	}
	// A change is an update, keeping the generated keys.
	changed := strings.Replace(doc, `"registrationId":"dev1",`, `"registrationId":"dev1","provisioningStatus":"disabled",`, 1)
	res, err = a.seed.Import(testContext(t), []byte(changed), FormatJSON)
	if err != nil || !slices.Equal(res.Updated, []string{"enrollment dev1"}) {
		t.Fatalf("changed = %+v, %v", res, err)
	}
	if again, _ := a.prov.GetEnrollment("dev1"); again.ProvisioningStatus != dps.StatusDisabled || *again.Attestation.SymmetricKey != *first.Attestation.SymmetricKey {
		t.Fatalf("after the update %+v", again)
	}
}

// A bad DPS section is refused before anything is applied.
func TestProvisioningSectionsValidated(t *testing.T) {
	notCA := testkit.NewCert(t, "leaf", nil, testkit.CertOptions{})
	ca := testkit.NewCert(t, "ok root", nil, testkit.CertOptions{IsCA: true})
	sym := `"attestation":{"type":"symmetricKey"}`
	tests := []struct {
		name, doc, want string
	}{
		{"enrollment without id", `{"enrollments":[{` + sym + `}]}`, "registrationId is missing"},
		{"group without id", `{"enrollmentGroups":[{"registrationId":"x",` + sym + `}]}`, "enrollmentGroupId is missing"},
		{"bad id", `{"enrollments":[{"registrationId":"a b",` + sym + `}]}`, "only letters"},
		{"repeated id", `{"enrollments":[{"registrationId":"a",` + sym + `},{"registrationId":"A",` + sym + `}]}`, "already used by enrollments[0]"},
		{"bad attestation", `{"enrollments":[{"registrationId":"a","attestation":{"type":"tpm"}}]}`, "TPM attestation is not emulated"},
		{"bad key", `{"enrollments":[{"registrationId":"a","attestation":{"type":"symmetricKey","symmetricKey":{"primaryKey":"AAAA"}}}]}`, "16 to 64 bytes"},
		{"bad certificate", `{"enrollmentGroups":[{"enrollmentGroupId":"g","attestation":{"type":"x509","x509":{"signingCertificates":{"primary":{"certificate":"x"}}}}}]}`, "cannot be read"},
		{"CA not PEM", `{"x509CAs":["hello"]}`, "not PEM"},
		{"CA that is no CA", `{"x509CAs":[` + string(mustMarshal(t, pemOf(notCA))) + `]}`, "not a CA certificate"},
		{"CA with a key", `{"x509CAs":["-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"]}`, "only CERTIFICATE blocks"},
		{"unknown section", `{"enrolments":[]}`, "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newEmulator(t)
			// Each bad document also lists a device and a good CA, which must not be applied.
			doc := strings.Replace(tt.doc, "{", `{"devices":[{"id":"d1"}],`, 1)
			if !strings.Contains(doc, "x509CAs") {
				doc = strings.Replace(doc, "{", `{"x509CAs":[`+string(mustMarshal(t, pemOf(ca)))+`],`, 1)
			}
			_, err := a.seed.Import(testContext(t), []byte(doc), FormatJSON)
			if !errcode.Is(err, errcode.ArgumentInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("import: %v, want %q", err, tt.want)
			}
			if ids := a.hub.DeviceIDs(); len(ids) != 0 || len(a.hub.AddedCAs()) != 0 {
				t.Fatalf("a refused document applied devices %v, CAs %d", ids, len(a.hub.AddedCAs()))
			}
			if n, g, _ := a.prov.Counts(); n+g != 0 {
				t.Fatalf("a refused document applied %d enrollments, %d groups", n, g)
			}
		})
	}
}

// Without a provisioning service, enrollments are refused with a clear
// error and nothing applied; x509CAs need only the hub.
func TestProvisioningSectionsWithoutAService(t *testing.T) {
	text, root, _ := provisioningSeed(t)
	h := newHub(t)
	_, err := Apply(testContext(t), h, mustParse(t, text, FormatYAML))
	if !errcode.Is(err, errcode.ArgumentInvalid) || !strings.Contains(err.Error(), "no Device Provisioning Service") {
		t.Fatalf("Apply = %v", err)
	}
	if len(h.DeviceIDs()) != 0 || len(h.AddedCAs()) != 0 {
		t.Fatal("a refused document was applied")
	}
	res, err := NewSeeder(h).Import(testContext(t), []byte("devices: []\nx509CAs:\n  - |\n"+indent(pemOf(root), 4)+"\n"), "")
	if err != nil || !slices.Equal(res.Created, []string{"x509CA CN=Seed Root"}) {
		t.Fatalf("CAs alone = %+v, %v", res, err)
	}
	d, err := Export(testContext(t), h)
	if err != nil || len(d.X509CAs) != 1 || len(d.Enrollments) != 0 {
		t.Fatalf("export = %+v, %v", d, err)
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
