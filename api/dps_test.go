package api

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/dps"
	"github.com/iothub-emulator/iothub-emulator/hub"
	"github.com/iothub-emulator/iothub-emulator/internal/hubtest"
	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
	"github.com/iothub-emulator/iothub-emulator/sas"
	"github.com/iothub-emulator/iothub-emulator/store"
)

const scope = dps.DefaultIDScope

// dpsFixture is the API with the provisioning service on, over loopback.
type dpsFixture struct {
	t      *testing.T
	srv    *httptest.Server
	hub    *hub.Hub
	prov   *dps.Service
	token  string // the provisioning service policy's
	client *http.Client
}

func newDPSFixture(t *testing.T, opts Options) *dpsFixture {
	t.Helper()
	st := store.OpenMemory()
	h := hubtest.Open(t, hub.Options{Store: st})
	prov, err := dps.Open(dps.Options{Store: st, Hub: h})
	if err != nil {
		t.Fatal(err)
	}
	opts.Provisioning = prov
	srv := httptest.NewServer(New(h, opts))
	t.Cleanup(srv.Close)
	return &dpsFixture{t: t, srv: srv, hub: h, prov: prov, token: serviceToken(t, prov), client: srv.Client()}
}

// serviceToken is a SAS token of the provisioning service's policy.
func serviceToken(t testing.TB, prov *dps.Service) string {
	t.Helper()
	p := prov.Policy()
	tok, err := sas.NewToken("localhost", p.PrimaryKey, p.Name, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// deviceToken is a registering device's SAS token, signed with key.
func deviceToken(t testing.TB, registrationID, key string) string {
	t.Helper()
	tok, err := sas.NewToken(scope+"/registrations/"+registrationID, key, "registration", time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// in is the fixture for a subtest.
func (f *dpsFixture) in(t *testing.T) *dpsFixture {
	c := *f
	c.t = t
	return &c
}

// send sends a request with the given Authorization ("" for none) and
// header pairs.
func (f *dpsFixture) send(method, path, token, body string, headers ...string) response {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := f.client.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(b)}
}

// do sends a service API request with the service policy's token.
func (f *dpsFixture) do(method, path, body string, headers ...string) response {
	f.t.Helper()
	return f.send(method, path, f.token, body, headers...)
}

// wantProvisioningError checks DPS's error body: the status and the
// numeric errorCode, a tracking id, a message and a timestamp, and none of
// the hub's error shape.
func wantProvisioningError(t *testing.T, r response, status, code int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d (body %s)", r.status, status, r.body)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(r.body), &body); err != nil {
		t.Fatalf("error body %q: %v", r.body, err)
	}
	if body["errorCode"] != float64(code) || body["trackingId"] == "" || body["message"] == "" || body["timestampUtc"] == nil {
		t.Fatalf("error body = %s, want errorCode %d", r.body, code)
	}
	if _, hubShape := body["Message"]; hubShape || r.header.Get("iothub-errorcode") != "" {
		t.Fatalf("a DPS error in the hub's shape: %v %s", r.header, r.body)
	}
}

func decodeAs[T any](t *testing.T, r response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		t.Fatalf("%s: %v", r.body, err)
	}
	return v
}

const (
	key1 = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	key2 = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA="
)

func symmetricEnrollment(id string) string {
	return `{"registrationId":"` + id + `","attestation":{"type":"symmetricKey","symmetricKey":{"primaryKey":"` + key1 + `","secondaryKey":"` + key2 + `"}}}`
}

func TestProvisioningServiceAuthorization(t *testing.T) {
	f := newDPSFixture(t, Options{})
	p := f.prov.Policy()
	wrongKey, _ := sas.NewToken("localhost", key1, p.Name, time.Now().Add(time.Hour))
	expired, _ := sas.NewToken("localhost", p.PrimaryKey, p.Name, time.Now().Add(-time.Minute))
	secondary, _ := sas.NewToken("localhost", p.SecondaryKey, p.Name, time.Now().Add(time.Hour))
	hubOwner := ownerToken(t, f.hub)
	tests := []struct {
		name, token string
		want        int
	}{
		{"no header", "", 401},
		{"not a token", "Bearer x", 401},
		{"the hub's owner policy", hubOwner, 401},
		{"wrong key", wrongKey, 401},
		{"expired", expired, 401},
		{"primary key", f.token, 404},
		{"secondary key", secondary, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.in(t).send("GET", "/enrollments/e1", tt.token, "")
			if tt.want == 401 {
				wantProvisioningError(t, r, 401, 401002)
			} else {
				wantProvisioningError(t, r, 404, 404201)
			}
		})
	}
	// A refused PUT stores nothing.
	wantProvisioningError(t, f.send("PUT", "/enrollments/e1", hubOwner, symmetricEnrollment("e1")), 401, 401002)
	if n, _, _ := f.prov.Counts(); n != 0 {
		t.Fatalf("%d enrollments after a refused PUT", n)
	}
}

func TestEnrollmentREST(t *testing.T) {
	f := newDPSFixture(t, Options{})
	r := f.do("PUT", "/enrollments/dev1?api-version=2021-10-01", symmetricEnrollment("dev1"))
	if r.status != 200 {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	e := decodeAs[dps.Enrollment](t, r)
	if e.ETag == "" || r.header.Get("ETag") != e.ETag || e.Attestation.SymmetricKey.PrimaryKey != key1 || e.ProvisioningStatus != "enabled" || e.IoTHubHostName != "localhost" {
		t.Fatalf("PUT answered %v %s", r.header, r.body)
	}
	if got := decodeAs[dps.Enrollment](t, f.do("GET", "/enrollments/dev1", "")); got.ETag != e.ETag || got.RegistrationID != "dev1" {
		t.Fatalf("GET = %+v", got)
	}
	att := decodeAs[dps.Attestation](t, f.do("POST", "/enrollments/dev1/attestationmechanism", ""))
	if att.Type != dps.AttestSymmetricKey || att.SymmetricKey.SecondaryKey != key2 {
		t.Fatalf("attestation = %+v", att)
	}

	// If-Match: a stale etag is refused and changes nothing; the current one replaces.
	wantProvisioningError(t, f.do("PUT", "/enrollments/dev1", symmetricEnrollment("dev1"), "If-Match", `"stale"`), 412, 412001)
	wantProvisioningError(t, f.do("PUT", "/enrollments/dev1", symmetricEnrollment("dev1"), "If-Match", ""), 412, 412001)
	if got := decodeAs[dps.Enrollment](t, f.do("GET", "/enrollments/dev1", "")); got.ETag != e.ETag {
		t.Fatalf("a refused PUT changed the etag")
	}
	r = f.do("PUT", "/enrollments/dev1", strings.Replace(symmetricEnrollment("dev1"), `{"registrationId"`, `{"provisioningStatus":"disabled","registrationId"`, 1), "If-Match", e.ETag)
	if r.status != 200 {
		t.Fatalf("PUT with the etag: %d %s", r.status, r.body)
	}
	e2 := decodeAs[dps.Enrollment](t, r)
	if e2.ETag == e.ETag || e2.ProvisioningStatus != "disabled" || e2.CreatedDateTimeUTC != e.CreatedDateTimeUTC {
		t.Fatalf("replaced = %s", r.body)
	}
	// If-Match on a missing enrollment is 404.
	wantProvisioningError(t, f.do("PUT", "/enrollments/dev2", symmetricEnrollment("dev2"), "If-Match", e.ETag), 404, 404201)

	wantProvisioningError(t, f.do("DELETE", "/enrollments/dev1", "", "If-Match", e.ETag), 412, 412001)
	if r := f.do("DELETE", "/enrollments/dev1", "", "If-Match", e2.ETag); r.status != 204 || r.body != "" {
		t.Fatalf("DELETE: %d %s", r.status, r.body)
	}
	wantProvisioningError(t, f.do("GET", "/enrollments/dev1", ""), 404, 404201)
	wantProvisioningError(t, f.do("DELETE", "/enrollments/dev1", ""), 404, 404201)
	wantProvisioningError(t, f.do("POST", "/enrollments/dev1/attestationmechanism", ""), 404, 404201)
}

func TestEnrollmentBadBodiesChangeNothing(t *testing.T) {
	f := newDPSFixture(t, Options{})
	for _, tt := range []struct{ name, path, body string }{
		{"not JSON", "/enrollments/e1", `{`},
		{"invalid Unicode", "/enrollments/e1", "{\"registrationId\":\"e1\xff\"}"},
		{"another id", "/enrollments/e1", symmetricEnrollment("e2")},
		{"no attestation", "/enrollments/e1", `{"registrationId":"e1"}`},
		{"short key", "/enrollments/e1", `{"attestation":{"type":"symmetricKey","symmetricKey":{"primaryKey":"AAAA"}}}`},
		{"tpm", "/enrollments/e1", `{"attestation":{"type":"tpm","tpm":{"endorsementKey":"AAAA"}}}`},
		{"bad status", "/enrollments/e1", `{"attestation":{"type":"symmetricKey"},"provisioningStatus":"on"}`},
		{"group with registrationId", "/enrollmentGroups/g1", `{"registrationId":"x","attestation":{"type":"symmetricKey"}}`},
		{"bad id", "/enrollments/e1.", `{"attestation":{"type":"symmetricKey"}}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantProvisioningError(t, f.in(t).do("PUT", tt.path, tt.body), 400, 400004)
		})
	}
	if n, g, _ := f.prov.Counts(); n != 0 || g != 0 {
		t.Fatalf("%d enrollments, %d groups after bad bodies", n, g)
	}
}

func TestEnrollmentQueryPages(t *testing.T) {
	f := newDPSFixture(t, Options{})
	for _, id := range []string{"c", "a", "b"} {
		if r := f.do("PUT", "/enrollments/"+id, symmetricEnrollment(id)); r.status != 200 {
			t.Fatal(r.status, r.body)
		}
	}
	var got []string
	cont := ""
	for page := 0; ; page++ {
		if page > 3 {
			t.Fatal("the query does not end")
		}
		h := []string{"x-ms-max-item-count", "2"}
		if cont != "" {
			h = append(h, "x-ms-continuation", cont)
		}
		r := f.do("POST", "/enrollments/query?api-version=2021-10-01", `{"query":"SELECT * FROM enrollments"}`, h...)
		if r.status != 200 || r.header.Get("x-ms-item-type") != "Enrollment" {
			t.Fatalf("query: %d %v %s", r.status, r.header, r.body)
		}
		items := decodeAs[[]dps.Enrollment](t, r)
		if len(items) > 2 {
			t.Fatalf("page of %d", len(items))
		}
		for _, e := range items {
			got = append(got, e.RegistrationID)
		}
		if cont = r.header.Get("x-ms-continuation"); cont == "" {
			break
		}
	}
	if strings.Join(got, ",") != "a,b,c" {
		t.Fatalf("query returned %v", got)
	}
	wantProvisioningError(t, f.do("POST", "/enrollments/query", `{"query":"SELECT * FROM devices WHERE x=1"}`), 400, 400004)
	wantProvisioningError(t, f.do("POST", "/enrollments/query", "", "x-ms-max-item-count", "-1"), 400, 400004)
	wantProvisioningError(t, f.do("POST", "/enrollments/query", "", "x-ms-continuation", "!!"), 400, 400004)
	if r := f.do("POST", "/enrollmentGroups/query", ""); r.status != 200 || r.body != "[]" || r.header.Get("x-ms-item-type") != "EnrollmentGroup" {
		t.Fatalf("group query: %d %v %s", r.status, r.header, r.body)
	}
}

func TestEnrollmentBulk(t *testing.T) {
	f := newDPSFixture(t, Options{})
	bulk := func(mode string, ids ...string) string {
		var es []string
		for _, id := range ids {
			es = append(es, symmetricEnrollment(id))
		}
		return `{"mode":"` + mode + `","enrollments":[` + strings.Join(es, ",") + `]}`
	}
	r := f.do("POST", "/enrollments", bulk("create", "b1", "b2"))
	if res := decodeAs[dps.BulkResult](t, r); r.status != 200 || !res.IsSuccessful || len(res.Errors) != 0 {
		t.Fatalf("bulk create: %d %s", r.status, r.body)
	}
	// One refused item refuses the batch: b3 is not created.
	r = f.do("POST", "/enrollments", bulk("create", "b3", "b1"))
	res := decodeAs[dps.BulkResult](t, r)
	if r.status != 200 || res.IsSuccessful || len(res.Errors) != 1 || res.Errors[0].RegistrationID != "b1" || res.Errors[0].ErrorCode != 409201 {
		t.Fatalf("bulk create of an existing one: %d %s", r.status, r.body)
	}
	wantProvisioningError(t, f.do("GET", "/enrollments/b3", ""), 404, 404201)
	wantProvisioningError(t, f.do("POST", "/enrollments", `{"mode":"upsert","enrollments":[]}`), 400, 400004)
	wantProvisioningError(t, f.do("POST", "/enrollments", `[`), 400, 400004)
	if r := f.do("POST", "/enrollments", bulk("delete", "b1", "b2")); !decodeAs[dps.BulkResult](t, r).IsSuccessful {
		t.Fatalf("bulk delete: %s", r.body)
	}
	if n, _, _ := f.prov.Counts(); n != 0 {
		t.Fatalf("%d enrollments after the bulk delete", n)
	}
}

func TestRegisterWithSymmetricKey(t *testing.T) {
	f := newDPSFixture(t, Options{})
	if r := f.do("PUT", "/enrollments/dev1", symmetricEnrollment("dev1")); r.status != 200 {
		t.Fatal(r.status, r.body)
	}
	path := "/" + scope + "/registrations/dev1"

	// Refused credentials change nothing.
	for _, tt := range []struct{ name, token string }{
		{"none", ""},
		{"wrong key", deviceToken(t, "dev1", key2[:len(key2)-2]+"Q=")},
		{"another registration's token", deviceToken(t, "dev2", key1)},
		{"the service policy", f.token},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantProvisioningError(t, f.in(t).send("PUT", path+"/register?api-version=2019-03-31", tt.token, `{"registrationId":"dev1"}`), 401, 401002)
		})
	}
	if _, _, regs := f.prov.Counts(); regs != 0 || len(f.hub.DeviceIDs()) != 0 {
		t.Fatalf("refused registrations left %d records, devices %v", regs, f.hub.DeviceIDs())
	}
	tok := deviceToken(t, "dev1", key1)
	// A body naming another registration is refused.
	wantProvisioningError(t, f.send("PUT", path+"/register", tok, `{"registrationId":"dev2"}`), 400, 400004)

	r := f.send("PUT", path+"/register?api-version=2019-03-31", tok, `{"registrationId":"dev1","payload":{"model":"m1"}}`)
	if r.status != 202 || r.header.Get("Retry-After") == "" {
		t.Fatalf("register: %d %v %s", r.status, r.header, r.body)
	}
	op := decodeAs[dps.Operation](t, r)
	if op.Status != dps.RegAssigning || op.OperationID == "" {
		t.Fatalf("register answered %s", r.body)
	}
	r = f.send("GET", path+"/operations/"+op.OperationID+"?api-version=2019-03-31", tok, "")
	if r.status != 200 {
		t.Fatalf("operation status: %d %s", r.status, r.body)
	}
	st := decodeAs[dps.Operation](t, r)
	if st.Status != dps.RegAssigned || st.RegistrationState.DeviceID != "dev1" || st.RegistrationState.AssignedHub != "localhost" ||
		st.RegistrationState.Substatus != dps.SubInitialAssignment || string(st.RegistrationState.Payload) != `{"model":"m1"}` {
		t.Fatalf("operation status = %s", r.body)
	}
	// The device the hub now has takes a token signed with the enrolled key.
	hubTok, _ := sas.NewToken("localhost/devices/dev1", key1, "", time.Now().Add(time.Hour))
	if _, err := f.hub.AuthenticateDevice("dev1", "", hubTok); err != nil {
		t.Fatalf("the provisioned device cannot connect: %v", err)
	}
	wantProvisioningError(t, f.send("GET", path+"/operations/4.nope", tok, ""), 404, 404201)
	wantProvisioningError(t, f.send("GET", path+"/operations/"+op.OperationID, deviceToken(t, "dev1", key2[:len(key2)-2]+"Q="), ""), 401, 401002)

	// The service API shows the registration state.
	reg := decodeAs[dps.RegistrationState](t, f.do("GET", "/registrations/dev1", ""))
	if reg.Status != dps.RegAssigned || reg.DeviceID != "dev1" {
		t.Fatalf("registration = %+v", reg)
	}
	if e := decodeAs[dps.Enrollment](t, f.do("GET", "/enrollments/dev1", "")); e.RegistrationState == nil || e.RegistrationState.Status != dps.RegAssigned {
		t.Fatalf("the enrollment shows no registration state")
	}
	wantProvisioningError(t, f.do("DELETE", "/registrations/dev1", "", "If-Match", `"stale"`), 412, 412001)
	if r := f.do("DELETE", "/registrations/dev1", ""); r.status != 204 {
		t.Fatalf("DELETE registration: %d %s", r.status, r.body)
	}
	wantProvisioningError(t, f.do("GET", "/registrations/dev1", ""), 404, 404201)
}

func TestRegisterThroughGroup(t *testing.T) {
	f := newDPSFixture(t, Options{})
	group := `{"enrollmentGroupId":"g1","attestation":{"type":"symmetricKey","symmetricKey":{"primaryKey":"` + key1 + `","secondaryKey":"` + key2 + `"}},"initialTwin":{"tags":{"site":"lab"}}}`
	if r := f.do("PUT", "/enrollmentGroups/g1", group); r.status != 200 {
		t.Fatal(r.status, r.body)
	}
	for _, id := range []string{"d-b", "d-a"} {
		k, _ := dps.DeviceKey(key1, id)
		r := f.send("PUT", "/"+scope+"/registrations/"+id+"/register", deviceToken(t, id, k), "")
		if r.status != 202 {
			t.Fatalf("register %s: %d %s", id, r.status, r.body)
		}
	}
	tw, err := f.hub.GetTwin(testContext(t), "d-a", "")
	if err != nil {
		t.Fatal(err)
	}
	if tags, _ := tw["tags"].(map[string]any); tags["site"] != "lab" {
		t.Fatalf("twin of a group device = %v", tw)
	}
	r := f.do("POST", "/registrations/g1/query", "", "x-ms-max-item-count", "1")
	if r.status != 200 || r.header.Get("x-ms-item-type") != "DeviceRegistration" || r.header.Get("x-ms-continuation") == "" {
		t.Fatalf("registration query: %d %v %s", r.status, r.header, r.body)
	}
	if page := decodeAs[[]dps.RegistrationState](t, r); len(page) != 1 || page[0].RegistrationID != "d-a" || page[0].SymmetricKey == nil || page[0].SymmetricKey.EnrollmentGroupID != "g1" {
		t.Fatalf("first page = %s", r.body)
	}
	r = f.do("POST", "/registrations/g1/query", "", "x-ms-continuation", r.header.Get("x-ms-continuation"))
	if page := decodeAs[[]dps.RegistrationState](t, r); len(page) != 1 || page[0].RegistrationID != "d-b" || r.header.Get("x-ms-continuation") != "" {
		t.Fatalf("second page = %v %s", r.header, r.body)
	}
	wantProvisioningError(t, f.do("POST", "/registrations/nogroup/query", ""), 404, 404201)
	att := decodeAs[dps.Attestation](t, f.do("POST", "/enrollmentGroups/g1/attestationmechanism", ""))
	if att.SymmetricKey == nil || att.SymmetricKey.PrimaryKey != key1 {
		t.Fatalf("group attestation = %+v", att)
	}
	if r := f.do("DELETE", "/enrollmentGroups/g1", ""); r.status != 204 {
		t.Fatalf("DELETE group: %d %s", r.status, r.body)
	}
	if _, _, regs := f.prov.Counts(); regs != 0 {
		t.Fatalf("%d registrations left after the group's deletion", regs)
	}
}

// A device registering over TLS with its client certificate, no token.
func TestRegisterWithClientCertificate(t *testing.T) {
	st := store.OpenMemory()
	h := hubtest.Open(t, hub.Options{Store: st})
	prov, err := dps.Open(dps.Options{Store: st, Hub: h})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(New(h, Options{Provisioning: prov}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	leaf := testkit.NewCert(t, "x509dev", nil, testkit.CertOptions{})
	stranger := testkit.NewCert(t, "x509dev", nil, testkit.CertOptions{})
	certPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Cert.Raw}))
	body, _ := json.Marshal(map[string]any{"attestation": map[string]any{"type": "x509",
		"x509": map[string]any{"clientCertificates": map[string]any{"primary": map[string]any{"certificate": certPEM}}}}})
	f := &dpsFixture{t: t, srv: srv, hub: h, prov: prov, token: serviceToken(t, prov), client: srv.Client()}
	r := f.do("PUT", "/enrollments/x509dev", string(body))
	if r.status != 200 {
		t.Fatalf("PUT x509 enrollment: %d %s", r.status, r.body)
	}
	e := decodeAs[dps.Enrollment](t, r)
	if info := e.Attestation.X509.ClientCertificates.Primary; info.Certificate != "" || info.Info.SHA1Thumbprint != leaf.SHA1() {
		t.Fatalf("the enrollment shows %+v", info)
	}

	withCert := func(c *testkit.Cert) *http.Client {
		tr := srv.Client().Transport.(*http.Transport).Clone()
		tr.TLSClientConfig.Certificates = []tls.Certificate{c.TLS()}
		return &http.Client{Transport: tr, Timeout: wait}
	}
	path := "/" + scope + "/registrations/x509dev"
	f.client = withCert(stranger)
	wantProvisioningError(t, f.send("PUT", path+"/register", "", `{"registrationId":"x509dev"}`), 401, 401002)
	f.client = srv.Client()
	wantProvisioningError(t, f.send("PUT", path+"/register", "", `{"registrationId":"x509dev"}`), 401, 401002)
	if len(h.DeviceIDs()) != 0 {
		t.Fatalf("refused registrations created %v", h.DeviceIDs())
	}

	f.client = withCert(leaf)
	r = f.send("PUT", path+"/register", "", `{"registrationId":"x509dev"}`)
	if r.status != 202 {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	op := decodeAs[dps.Operation](t, r)
	r = f.send("GET", path+"/operations/"+op.OperationID, "", "")
	if got := decodeAs[dps.Operation](t, r); r.status != 200 || got.Status != dps.RegAssigned || got.RegistrationState.X509 == nil {
		t.Fatalf("operation: %d %s", r.status, r.body)
	}
	if err := h.AuthenticateDeviceX509("x509dev", "", []*x509.Certificate{leaf.Cert}); err != nil {
		t.Fatalf("the provisioned device cannot connect with its certificate: %v", err)
	}
}

// Every refusal on DPS's paths is in DPS's error body, also before routing,
// and the hub's paths keep the hub's.
func TestProvisioningErrorBodies(t *testing.T) {
	f := newDPSFixture(t, Options{Strict: true})
	v := "?api-version=2021-10-01"
	for _, tt := range []struct {
		method, path string
		status, code int
	}{
		{"GET", "/enrollments/a/b/c" + v, 404, 404201},
		{"GET", "/enrollmentGroups" + v, 404, 404201},
		{"GET", "/registrations" + v, 404, 404201},
		{"GET", "/" + scope + "/registrations/dev1/whatever" + v, 404, 404201},
		{"PATCH", "/enrollments/a" + v, 405, 405000},
		{"GET", "/enrollments" + v, 405, 405000},
		{"PUT", "/enrollments/query" + v, 405, 405000},
		{"GET", "/" + scope + "/registrations/dev1/register" + v, 405, 405000},
		{"PROPFIND", "/enrollments/a" + v, 405, 405000},
		{"GET", "/enrollments/a%2Fb" + v, 400, 400004},
		{"GET", "/enrollments/a", 400, 400001},
		{"GET", "/enrollments/a?api-version=2021-04-12", 400, 400001},
		{"POST", "/enrollments/a" + v, 405, 405000},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			wantProvisioningError(t, f.in(t).do(tt.method, tt.path, ""), tt.status, tt.code)
		})
	}
	if r := f.do("GET", "/enrollments/a?api-version=2019-03-31", ""); r.status != 404 {
		t.Fatalf("a DPS api-version refused: %d %s", r.status, r.body)
	}
	// The hub's own paths keep the hub's body and versions.
	wantError(t, f.send("GET", "/devices/d1?api-version=2021-04-12", ownerToken(t, f.hub), ""), 404, "DeviceNotFound")
	wantError(t, f.send("GET", "/devices/d1?api-version=2021-10-01", ownerToken(t, f.hub), ""), 400, "InvalidProtocolVersion")
}

// Without Options.Provisioning the DPS paths are the hub's 404s.
func TestProvisioningOff(t *testing.T) {
	fx := newFixture(t)
	wantError(t, fx.do("GET", "/enrollments/e1", ""), 404, "IotHubNotFound")
	wantError(t, fx.do("PUT", "/"+scope+"/registrations/r1/register", ""), 404, "IotHubNotFound")
}

// The Node service client posts bulk operations to /enrollments/ and asks
// for /enrollmentgroups/{id}/attestationmechanism in lower case; DPS
// serves both.
func TestProvisioningPathSpellings(t *testing.T) {
	f := newDPSFixture(t, Options{})
	r := f.do("POST", "/enrollments/", `{"mode":"create","enrollments":[`+symmetricEnrollment("s1")+`]}`)
	if res := decodeAs[dps.BulkResult](t, r); r.status != 200 || !res.IsSuccessful {
		t.Fatalf("bulk on /enrollments/: %d %s", r.status, r.body)
	}
	if r := f.do("PUT", "/enrollmentGroups/g1", `{"attestation":{"type":"symmetricKey"}}`); r.status != 200 {
		t.Fatalf("create group: %d %s", r.status, r.body)
	}
	for _, p := range []string{"/enrollmentgroups/g1/attestationmechanism", "/ENROLLMENTGROUPS/g1/attestationmechanism", "/Enrollments/s1/attestationmechanism"} {
		r := f.do("POST", p, "")
		if a := decodeAs[dps.Attestation](t, r); r.status != 200 || a.Type != "symmetricKey" || a.SymmetricKey.PrimaryKey == "" {
			t.Fatalf("POST %s: %d %s", p, r.status, r.body)
		}
	}
	wantProvisioningError(t, f.do("GET", "/enrollmentgroups/nope", ""), 404, 404201)
}
