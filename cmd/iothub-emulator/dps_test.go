package main

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/api"
	"github.com/iothub-emulator/iothub-emulator/dps"
	"github.com/iothub-emulator/iothub-emulator/hub"
	"github.com/iothub-emulator/iothub-emulator/internal/hubtest"
	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
	"github.com/iothub-emulator/iothub-emulator/sas"
	"github.com/iothub-emulator/iothub-emulator/store"

	"net/http/httptest"
)

// dpsEnv is the REST API with a provisioning service, on loopback, as the
// emulator serves it.
type dpsEnv struct {
	endpoint string
	hub      *hub.Hub
	prov     *dps.Service
}

func startDPS(t *testing.T) dpsEnv {
	t.Helper()
	st := store.OpenMemory()
	h := hubtest.Open(t, hub.Options{Store: st})
	p, err := dps.Open(dps.Options{Store: st, Hub: h})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(h, api.Options{Provisioning: p, Strict: true}))
	t.Cleanup(srv.Close)
	return dpsEnv{endpoint: srv.URL, hub: h, prov: p}
}

// cli runs a dps command against the service.
func (e dpsEnv) cli(t *testing.T, args ...string) result {
	t.Helper()
	return runCLI(t, append(append([]string{"dps"}, args...), "--endpoint", e.endpoint)...)
}

func compact(t *testing.T, raw []byte) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestDPSEnrollmentVerbs(t *testing.T) {
	e := startDPS(t)
	r := e.cli(t, "enrollment", "create", "--enrollment-id", "dev1", "--attestation-type", "symmetrickey",
		"--pk", testPrimaryKey, "--device-id", "device-one", "--initial-twin-tags", `{"site":"lab"}`,
		"--initial-twin-properties", `{"rate":5}`, "--edge-enabled", "--reprovision-policy", "reprovisionandresetdata").ok(t)
	var got dps.Enrollment
	r.json(t, &got)
	if got.RegistrationID != "dev1" || got.DeviceID != "device-one" || got.Attestation.SymmetricKey.PrimaryKey != testPrimaryKey ||
		got.Attestation.SymmetricKey.SecondaryKey == "" || !got.Capabilities.IoTEdge || *got.ReprovisionPolicy.MigrateDeviceData ||
		compact(t, got.InitialTwin.Tags) != `{"site":"lab"}` || compact(t, got.InitialTwin.Properties.Desired) != `{"rate":5}` {
		t.Fatalf("created %s", r.stdout)
	}
	e.cli(t, "enrollment", "create", "--enrollment-id", "dev1").failed(t, "already exists")

	r = e.cli(t, "enrollment", "update", "--eid", "dev1", "--provisioning-status", "disabled").ok(t)
	var upd dps.Enrollment
	r.json(t, &upd)
	if upd.ProvisioningStatus != dps.StatusDisabled || upd.DeviceID != "device-one" || upd.Attestation.SymmetricKey.PrimaryKey != testPrimaryKey || upd.ETag == got.ETag {
		t.Fatalf("updated %s", r.stdout)
	}
	e.cli(t, "enrollment", "update", "--eid", "dev1", "--etag", got.ETag, "--ps", "enabled").failed(t, "PreconditionFailed")

	// An X.509 enrollment from a certificate file.
	cert := testkit.NewCert(t, "cam1", nil, testkit.CertOptions{})
	path := filepath.Join(t.TempDir(), "cam1.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	r = e.cli(t, "enrollment", "create", "--enrollment-id", "cam1", "--attestation-type", "x509", "--certificate-path", path).ok(t)
	var x dps.Enrollment
	r.json(t, &x)
	if x.Attestation.X509.ClientCertificates.Primary.Info.SHA256Thumbprint != cert.SHA256() {
		t.Fatalf("x509 enrollment %s", r.stdout)
	}
	e.cli(t, "enrollment", "update", "--eid", "cam1", "--ps", "disabled").usage(t, "--certificate-path")

	r = e.cli(t, "enrollment", "list", "--top", "1").ok(t)
	var list []dps.Enrollment
	r.json(t, &list)
	if len(list) != 1 || list[0].RegistrationID != "cam1" {
		t.Fatalf("list --top 1 = %s", r.stdout)
	}
	r = e.cli(t, "enrollment", "list").ok(t)
	r.json(t, &list)
	if len(list) != 2 {
		t.Fatalf("list = %s", r.stdout)
	}
	r = e.cli(t, "enrollment", "show", "--eid", "dev1").ok(t)
	if !strings.Contains(r.stdout, testPrimaryKey) {
		t.Fatalf("show = %s", r.stdout)
	}
	e.cli(t, "enrollment", "delete", "--eid", "dev1").ok(t)
	e.cli(t, "enrollment", "show", "--eid", "dev1").failed(t, "ProvisioningNotFound")

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"enrollment", "create"}, "--enrollment-id"},
		{[]string{"enrollment", "create", "--eid", "x", "--at", "tpm"}, "--attestation-type must be one of"},
		{[]string{"enrollment", "create", "--eid", "x", "--at", "x509"}, "needs --certificate-path"},
		{[]string{"enrollment", "create", "--eid", "x", "--cp", path}, "need --attestation-type x509"},
		{[]string{"enrollment", "create", "--eid", "x", "--rp", "sometimes"}, "--reprovision-policy must be one of"},
		{[]string{"enrollment", "create", "--eid", "x", "--itt", "[1]"}, "must be a JSON object"},
		{[]string{"enrollment", "create", "--eid", "x", "--login", "nonsense"}, "--login"},
	} {
		e.cli(t, tt.args...).usage(t, tt.want)
	}
	// The service refuses what it refuses, with its own error.
	e.cli(t, "enrollment", "create", "--eid", "bad.", "--at", "symmetrickey").failed(t, "ArgumentInvalid")
}

func TestDPSGroupAndRegistrationVerbs(t *testing.T) {
	e := startDPS(t)
	r := e.cli(t, "enrollment-group", "create", "--group-id", "fleet", "--pk", testPrimaryKey, "--sk", testSecondaryKey).ok(t)
	var g dps.Enrollment
	r.json(t, &g)
	if g.EnrollmentGroupID != "fleet" || g.Attestation.SymmetricKey.SecondaryKey != testSecondaryKey {
		t.Fatalf("group %s", r.stdout)
	}
	// compute-device-key gives the key a device registers with.
	r = runCLI(t, "dps", "enrollment-group", "compute-device-key", "--key", testPrimaryKey, "--registration-id", "sensor-1").ok(t)
	var key string
	r.json(t, &key)
	if want, _ := dps.DeviceKey(testPrimaryKey, "sensor-1"); key != want {
		t.Fatalf("key %q, want %q", key, want)
	}
	tok, _ := sas.NewToken(dps.DefaultIDScope+"/registrations/sensor-1", key, "registration", time.Now().Add(time.Hour))
	if _, err := e.prov.Register(t.Context(), dps.DefaultIDScope, "sensor-1", dps.Credential{Token: tok}, nil); err != nil {
		t.Fatal(err)
	}
	r = e.cli(t, "registration", "list", "--group-id", "fleet").ok(t)
	var regs []dps.RegistrationState
	r.json(t, &regs)
	if len(regs) != 1 || regs[0].RegistrationID != "sensor-1" || regs[0].Status != dps.RegAssigned {
		t.Fatalf("registrations %s", r.stdout)
	}
	r = e.cli(t, "registration", "show", "--registration-id", "sensor-1").ok(t)
	var st dps.RegistrationState
	r.json(t, &st)
	if st.DeviceID != "sensor-1" {
		t.Fatalf("registration %s", r.stdout)
	}
	e.cli(t, "registration", "delete", "--rid", "sensor-1", "--etag", "old").failed(t, "PreconditionFailed")
	e.cli(t, "registration", "delete", "--rid", "sensor-1").ok(t)
	e.cli(t, "registration", "show", "--rid", "sensor-1").failed(t, "ProvisioningNotFound")
	e.cli(t, "registration", "list", "--group-id", "none").failed(t, "ProvisioningNotFound")

	r = e.cli(t, "enrollment-group", "update", "--gid", "fleet", "--ee").ok(t)
	if err := json.Unmarshal([]byte(r.stdout), &g); err != nil || !g.Capabilities.IoTEdge || g.Attestation.SymmetricKey.PrimaryKey != testPrimaryKey {
		t.Fatalf("updated group %s", r.stdout)
	}
	r = e.cli(t, "enrollment-group", "list").ok(t)
	if !strings.Contains(r.stdout, `"fleet"`) {
		t.Fatalf("groups %s", r.stdout)
	}
	e.cli(t, "enrollment-group", "show", "--gid", "fleet").ok(t)
	e.cli(t, "enrollment-group", "delete", "--gid", "fleet").ok(t)
	e.cli(t, "enrollment-group", "show", "--gid", "fleet").failed(t, "ProvisioningNotFound")

	runCLI(t, "dps", "enrollment-group", "compute-device-key", "--key", "!!", "--rid", "a").usage(t, "--key is not base64")
	runCLI(t, "dps", "enrollment-group", "compute-device-key", "--key", testPrimaryKey).usage(t, "--registration-id")
}

func TestDPSConnectionStringShow(t *testing.T) {
	r := runCLI(t, "dps", "connection-string", "show").ok(t)
	var out struct{ ConnectionString, IDScope string }
	r.json(t, &out)
	cs, err := sas.ParseConnectionString(out.ConnectionString)
	if err != nil || cs.SharedAccessKeyName != dps.PolicyName || cs.SharedAccessKey != dps.WellKnownPolicy().PrimaryKey || out.IDScope != dps.DefaultIDScope {
		t.Fatalf("connection string %s: %v", r.stdout, err)
	}
	r = runCLI(t, "dps", "connection-string", "show", "--key-type", "secondary").ok(t)
	if !strings.Contains(r.stdout, strings.ReplaceAll(dps.WellKnownPolicy().SecondaryKey, "+", "\\u002b")) && !strings.Contains(r.stdout, dps.WellKnownPolicy().SecondaryKey) {
		t.Fatalf("secondary %s", r.stdout)
	}
	// The connection string it prints is the one the verbs sign with.
	e := startDPS(t)
	e.cli(t, "enrollment", "list", "--login", out.ConnectionString).ok(t)
	e.cli(t, "enrollment", "list", "--login", "HostName=x;SharedAccessKeyName=provisioningserviceowner;SharedAccessKey="+testPrimaryKey).failed(t, "ProvisioningUnauthorized")
}
