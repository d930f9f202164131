package dps

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
	"github.com/iothub-emulator/iothub-emulator/registry"
	"github.com/iothub-emulator/iothub-emulator/sas"
)

// register registers and reads the operation's outcome, as a device does.
func (e *env) register(id string, c Credential, body string) RegistrationState {
	e.t.Helper()
	op, err := e.svc.Register(ctx(e.t), DefaultIDScope, id, c, []byte(body))
	if err != nil {
		e.t.Fatalf("register %s: %v", id, err)
	}
	if op.Status != RegAssigning || !strings.HasPrefix(op.OperationID, "4.") || op.RegistrationState != nil {
		e.t.Fatalf("register answered %+v", op)
	}
	got, err := e.svc.OperationStatus(DefaultIDScope, id, op.OperationID, c)
	if err != nil {
		e.t.Fatalf("operation status: %v", err)
	}
	if got.OperationID != op.OperationID || got.Status != got.RegistrationState.Status {
		e.t.Fatalf("operation = %+v", got)
	}
	return *got.RegistrationState
}

func chain(certs ...*testkit.Cert) []*x509.Certificate {
	var out []*x509.Certificate
	for _, c := range certs {
		for _, der := range c.Chain {
			cert, err := x509.ParseCertificate(der)
			if err != nil {
				panic(err)
			}
			out = append(out, cert)
		}
	}
	return out
}

// hubToken is a token the hub takes from a device signed with key.
func hubToken(t *testing.T, deviceID, key string) string {
	t.Helper()
	tok, err := sas.NewToken("localhost/devices/"+deviceID, key, "", time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestRegisterIndividualSymmetricKey(t *testing.T) {
	e := newEnv(t)
	if _, err := e.svc.PutEnrollment(ctx(t), "dev1", symmetric(t, map[string]any{
		"capabilities": map[string]any{"iotEdge": true},
		"initialTwin":  map[string]any{"tags": map[string]any{"site": "a"}, "properties": map[string]any{"desired": map[string]any{"rate": 5}}},
	}), ""); err != nil {
		t.Fatal(err)
	}
	// The secondary key works as well as the primary.
	st := e.register("dev1", Credential{Token: token(t, "dev1", key2, time.Time{})}, `{"registrationId":"dev1","payload":{"model":"m1"}}`)
	if st.Status != RegAssigned || st.Substatus != SubInitialAssignment || st.DeviceID != "dev1" || st.AssignedHub != "localhost" ||
		string(st.Payload) != `{"model":"m1"}` || st.SymmetricKey == nil || st.SymmetricKey.EnrollmentGroupID != "" || st.ETag == "" {
		t.Fatalf("state = %+v", st)
	}
	dev, err := e.hub.GetDevice(ctx(t), "dev1")
	if err != nil {
		t.Fatal(err)
	}
	if dev.Authentication.Type != registry.AuthSAS || dev.Authentication.SymmetricKey.PrimaryKey != key1 || !dev.Capabilities.IotEdge {
		t.Fatalf("hub device = %+v", dev)
	}
	if _, err := e.hub.AuthenticateDevice("dev1", "", hubToken(t, "dev1", key1)); err != nil {
		t.Fatalf("the device cannot connect to the hub: %v", err)
	}
	tw, _ := e.hub.GetTwin(ctx(t), "dev1", "")
	if tags := tw["tags"].(map[string]any); tags["site"] != "a" {
		t.Fatalf("twin = %v", tw)
	}
	if desired := tw["properties"].(map[string]any)["desired"].(map[string]any); desired["rate"] != float64(5) {
		t.Fatalf("desired = %v", desired)
	}
	// The enrollment and the service API show the state.
	if en, _ := e.svc.GetEnrollment("dev1"); en.RegistrationState == nil || en.RegistrationState.Status != RegAssigned {
		t.Fatalf("enrollment = %+v", en)
	}
	if got, err := e.svc.GetRegistration("dev1"); err != nil || got.ETag != st.ETag {
		t.Fatalf("registration = %+v, %v", got, err)
	}
	_, err = e.svc.OperationStatus(DefaultIDScope, "dev1", "4.unknown", Credential{Token: token(t, "dev1", key1, time.Time{})})
	wantCode(t, err, errcode.ProvisioningNotFound)
}

func TestRegisterEnrollmentDeviceID(t *testing.T) {
	e := newEnv(t)
	if _, err := e.svc.PutEnrollment(ctx(t), "reg1", symmetric(t, map[string]any{"deviceId": "device-one"}), ""); err != nil {
		t.Fatal(err)
	}
	if st := e.register("reg1", Credential{Token: token(t, "reg1", key1, time.Time{})}, ""); st.DeviceID != "device-one" {
		t.Fatalf("state = %+v", st)
	}
	if ids := e.hub.DeviceIDs(); len(ids) != 1 || ids[0] != "device-one" {
		t.Fatalf("hub devices %v", ids)
	}
}

func TestRegisterGroupSymmetricKey(t *testing.T) {
	e := newEnv(t)
	if _, err := e.svc.PutEnrollmentGroup(ctx(t), "g1", symmetric(t, nil), ""); err != nil {
		t.Fatal(err)
	}
	primary, _ := DeviceKey(key1, "sensor-7")
	secondary, _ := DeviceKey(key2, "sensor-7")
	st := e.register("sensor-7", Credential{Token: token(t, "sensor-7", secondary, time.Time{})}, "")
	if st.Status != RegAssigned || st.DeviceID != "sensor-7" || st.SymmetricKey == nil || st.SymmetricKey.EnrollmentGroupID != "g1" {
		t.Fatalf("state = %+v", st)
	}
	dev, _ := e.hub.GetDevice(ctx(t), "sensor-7")
	if k := dev.Authentication.SymmetricKey; k.PrimaryKey != primary || k.SecondaryKey != secondary {
		t.Fatalf("device keys = %+v", k)
	}
	if _, err := e.hub.AuthenticateDevice("sensor-7", "", hubToken(t, "sensor-7", primary)); err != nil {
		t.Fatalf("the device cannot connect with its derived key: %v", err)
	}
	// The group key itself is not a device's key.
	_, err := e.svc.Register(ctx(t), DefaultIDScope, "sensor-8", Credential{Token: token(t, "sensor-8", key1, time.Time{})}, nil)
	wantCode(t, err, errcode.ProvisioningUnauthorized)
}

func TestDeviceKey(t *testing.T) {
	// The derivation `az iot dps enrollment-group compute-device-key` does:
	// HMAC-SHA256 of the registration id under the decoded group key.
	got, err := DeviceKey("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY=", "dev1")
	if err != nil {
		t.Fatal(err)
	}
	// Computed independently: HMAC-SHA256 of "dev1" under the decoded key.
	if got != "pOw4yHf+fAR8quHf8b3xVcstFqsQWmzvrmCTZ9aUz0Y=" {
		t.Fatalf("DeviceKey = %q", got)
	}
	again, _ := DeviceKey("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY=", "dev2")
	if again == got {
		t.Fatal("two registration ids derive the same key")
	}
	if _, err := DeviceKey("!!", "dev1"); err == nil {
		t.Fatal("a key that is not base64 derives")
	}
}

func TestRegisterIndividualX509(t *testing.T) {
	e := newEnv(t)
	primary := testkit.NewCert(t, "cam1", nil, testkit.CertOptions{})
	secondary := testkit.NewCert(t, "cam1", nil, testkit.CertOptions{})
	if _, err := e.svc.PutEnrollment(ctx(t), "cam1", x509Body(t, false, certPEM(primary), certPEM(secondary)), ""); err != nil {
		t.Fatal(err)
	}
	st := e.register("cam1", Credential{Chain: chain(secondary)}, "")
	if st.Status != RegAssigned || st.X509 == nil || st.SymmetricKey != nil {
		t.Fatalf("state = %+v", st)
	}
	dev, _ := e.hub.GetDevice(ctx(t), "cam1")
	tp := dev.Authentication.X509Thumbprint
	if dev.Authentication.Type != registry.AuthSelfSigned || tp.PrimaryThumbprint == nil || *tp.PrimaryThumbprint != primary.SHA256() || *tp.SecondaryThumbprint != secondary.SHA256() {
		t.Fatalf("hub device = %+v", dev.Authentication)
	}
	for _, c := range []*testkit.Cert{primary, secondary} {
		if err := e.hub.AuthenticateDeviceX509("cam1", "", chain(c)); err != nil {
			t.Fatalf("the device cannot connect with its certificate: %v", err)
		}
	}
}

func TestRegisterGroupX509(t *testing.T) {
	e := newEnv(t)
	root := testkit.NewCert(t, "Root", nil, testkit.CertOptions{IsCA: true})
	inter := testkit.NewCert(t, "Intermediate", root, testkit.CertOptions{IsCA: true})
	if _, err := e.svc.PutEnrollmentGroup(ctx(t), "fleet", x509Body(t, true, certPEM(root)), ""); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, id string
		leaf     *testkit.Cert
	}{
		{"signed by the root", "leaf-1", testkit.NewCert(t, "leaf-1", root, testkit.CertOptions{})},
		{"through an intermediate", "leaf-2", testkit.NewCert(t, "leaf-2", inter, testkit.CertOptions{})},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := e.register(tt.id, Credential{Chain: chain(tt.leaf)}, "")
			if st.Status != RegAssigned || st.X509 == nil || st.X509.EnrollmentGroupID != "fleet" {
				t.Fatalf("state = %+v", st)
			}
			if err := e.hub.AuthenticateDeviceX509(tt.id, "", chain(tt.leaf)); err != nil {
				t.Fatalf("the device cannot connect with its certificate: %v", err)
			}
		})
	}
}

// Every refused credential is 401002 and changes nothing in the hub or in
// the records.
func TestRegisterRefused(t *testing.T) {
	e := newEnv(t)
	root := testkit.NewCert(t, "Root", nil, testkit.CertOptions{IsCA: true})
	otherRoot := testkit.NewCert(t, "Root", nil, testkit.CertOptions{IsCA: true})
	self := testkit.NewCert(t, "cam1", nil, testkit.CertOptions{})
	for _, put := range []func() error{
		func() error { _, err := e.svc.PutEnrollment(ctx(t), "dev1", symmetric(t, nil), ""); return err },
		func() error {
			_, err := e.svc.PutEnrollment(ctx(t), "cam1", x509Body(t, false, certPEM(self)), "")
			return err
		},
		func() error {
			_, err := e.svc.PutEnrollmentGroup(ctx(t), "g1", x509Body(t, true, certPEM(root)), "")
			return err
		},
	} {
		if err := put(); err != nil {
			t.Fatal(err)
		}
	}
	expiredLeaf := testkit.NewCert(t, "leaf-1", root, testkit.CertOptions{NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	tests := []struct {
		name, scope, id string
		c               Credential
	}{
		{"wrong key", DefaultIDScope, "dev1", Credential{Token: token(t, "dev1", key3, time.Time{})}},
		{"unknown registration", DefaultIDScope, "dev9", Credential{Token: token(t, "dev9", key1, time.Time{})}},
		{"wrong scope", "0ne99999999", "dev1", Credential{Token: token(t, "dev1", key1, time.Time{})}},
		{"expired token", DefaultIDScope, "dev1", Credential{Token: token(t, "dev1", key1, time.Now().Add(-time.Minute))}},
		{"token for another registration", DefaultIDScope, "dev1", Credential{Token: token(t, "dev2", key1, time.Time{})}},
		{"malformed token", DefaultIDScope, "dev1", Credential{Token: "SharedAccessSignature sr=x"}},
		{"no credential", DefaultIDScope, "dev1", Credential{}},
		{"bad registration id", DefaultIDScope, "dev 1", Credential{Token: token(t, "dev 1", key1, time.Time{})}},
		{"token for an X.509 enrollment", DefaultIDScope, "cam1", Credential{Token: token(t, "cam1", key1, time.Time{})}},
		{"certificate for a symmetric-key enrollment", DefaultIDScope, "dev1", Credential{Chain: chain(testkit.NewCert(t, "dev1", nil, testkit.CertOptions{}))}},
		{"another self-signed certificate", DefaultIDScope, "cam1", Credential{Chain: chain(testkit.NewCert(t, "cam1", nil, testkit.CertOptions{}))}},
		{"wrong CN", DefaultIDScope, "leaf-1", Credential{Chain: chain(testkit.NewCert(t, "leaf-2", root, testkit.CertOptions{}))}},
		{"untrusted chain", DefaultIDScope, "leaf-1", Credential{Chain: chain(testkit.NewCert(t, "leaf-1", otherRoot, testkit.CertOptions{}))}},
		{"expired certificate", DefaultIDScope, "leaf-1", Credential{Chain: chain(expiredLeaf)}},
		{"not yet valid certificate", DefaultIDScope, "leaf-1", Credential{Chain: chain(testkit.NewCert(t, "leaf-1", root, testkit.CertOptions{NotBefore: time.Now().Add(time.Hour), NotAfter: time.Now().Add(2 * time.Hour)}))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.svc.Register(ctx(t), tt.scope, tt.id, tt.c, []byte(`{"registrationId":"`+tt.id+`"}`))
			wantCode(t, err, errcode.ProvisioningUnauthorized)
			wantCode(t, e.svc.Authenticate(tt.scope, tt.id, tt.c), errcode.ProvisioningUnauthorized)
			_, err = e.svc.OperationStatus(tt.scope, tt.id, "4.x", tt.c)
			wantCode(t, err, errcode.ProvisioningUnauthorized)
		})
	}
	if ids := e.hub.DeviceIDs(); len(ids) != 0 {
		t.Fatalf("refused registrations created %v", ids)
	}
	if _, _, regs := e.svc.Counts(); regs != 0 {
		t.Fatalf("refused registrations recorded %d states", regs)
	}
	// A bad body, with a good credential, changes nothing either.
	for _, body := range []string{`{`, `{"registrationId":"dev2"}`, `[1]`, `{"payload":` + strings.Repeat(" ", maxRegisterBody) + `1}`} {
		_, err := e.svc.Register(ctx(t), DefaultIDScope, "dev1", Credential{Token: token(t, "dev1", key1, time.Time{})}, []byte(body))
		wantCode(t, err, errcode.ArgumentInvalid)
	}
	if ids := e.hub.DeviceIDs(); len(ids) != 0 {
		t.Fatalf("bad bodies created %v", ids)
	}
}

func TestRegisterDisabled(t *testing.T) {
	e := newEnv(t)
	if _, err := e.svc.PutEnrollment(ctx(t), "dev1", symmetric(t, map[string]any{"provisioningStatus": "disabled"}), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.PutEnrollmentGroup(ctx(t), "g1", symmetric(t, map[string]any{"provisioningStatus": "disabled"}), ""); err != nil {
		t.Fatal(err)
	}
	k, _ := DeviceKey(key1, "dev2")
	for id, tok := range map[string]string{"dev1": token(t, "dev1", key1, time.Time{}), "dev2": token(t, "dev2", k, time.Time{})} {
		st := e.register(id, Credential{Token: tok}, "")
		if st.Status != RegDisabled || st.DeviceID != "" || st.ErrorCode != 401002 || !strings.Contains(st.ErrorMessage, "disabled") {
			t.Fatalf("%s: state = %+v", id, st)
		}
	}
	if ids := e.hub.DeviceIDs(); len(ids) != 0 {
		t.Fatalf("a disabled enrollment created %v", ids)
	}
}

func TestReprovisionPolicies(t *testing.T) {
	initial := map[string]any{"tags": map[string]any{"site": "a"}}
	tests := []struct {
		name      string
		policy    map[string]any // nil: the default, migrate
		twin      bool           // the enrollment has an initial twin
		substatus string
		wantTags  string // the device's tags after the second registration
	}{
		{"migrate by default", nil, true, SubDeviceDataMigrated, `{"site":"moved"}`},
		{"migrate", map[string]any{"updateHubAssignment": true, "migrateDeviceData": true}, true, SubDeviceDataMigrated, `{"site":"moved"}`},
		{"reset", map[string]any{"updateHubAssignment": true, "migrateDeviceData": false}, true, SubDeviceDataReset, `{"site":"a"}`},
		{"reset without an initial twin", map[string]any{"migrateDeviceData": false}, false, SubDeviceDataReset, `{}`},
		{"never", map[string]any{"updateHubAssignment": false}, true, SubInitialAssignment, `{"site":"moved"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			extra := map[string]any{}
			if tt.policy != nil {
				extra["reprovisionPolicy"] = tt.policy
			}
			if tt.twin {
				extra["initialTwin"] = initial
			}
			if _, err := e.svc.PutEnrollment(ctx(t), "dev1", symmetric(t, extra), ""); err != nil {
				t.Fatal(err)
			}
			c := Credential{Token: token(t, "dev1", key1, time.Time{})}
			first := e.register("dev1", c, "")
			if first.Substatus != SubInitialAssignment {
				t.Fatalf("first = %+v", first)
			}
			// The device's data moves on in the hub.
			if _, err := e.hub.UpdateTwin(ctx(t), "dev1", "", []byte(`{"tags":{"site":"moved"}}`), "", false); err != nil {
				t.Fatal(err)
			}
			second := e.register("dev1", c, `{"payload":{"n":2}}`)
			if second.Status != RegAssigned || second.Substatus != tt.substatus || second.CreatedDateTimeUTC != first.CreatedDateTimeUTC || string(second.Payload) != `{"n":2}` {
				t.Fatalf("second = %+v", second)
			}
			tw, _ := e.hub.GetTwin(ctx(t), "dev1", "")
			tags := map[string]any{}
			for k, v := range tw["tags"].(map[string]any) {
				tags[k] = v
			}
			if got := string(mustJSON(t, tags)); got != tt.wantTags {
				t.Fatalf("tags after re-registration = %s, want %s", got, tt.wantTags)
			}
		})
	}
}

func TestDeleteRegistrationMakesTheNextOneInitial(t *testing.T) {
	e := newEnv(t)
	if _, err := e.svc.PutEnrollment(ctx(t), "dev1", symmetric(t, map[string]any{"initialTwin": map[string]any{"tags": map[string]any{"v": 1}}}), ""); err != nil {
		t.Fatal(err)
	}
	c := Credential{Token: token(t, "dev1", key1, time.Time{})}
	st := e.register("dev1", c, "")
	if _, err := e.hub.UpdateTwin(ctx(t), "dev1", "", []byte(`{"tags":{"v":2}}`), "", false); err != nil {
		t.Fatal(err)
	}
	wantCode(t, e.svc.DeleteRegistration(ctx(t), "dev1", `"stale"`), errcode.PreconditionFailed)
	if err := e.svc.DeleteRegistration(ctx(t), "dev1", st.ETag); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.GetRegistration("dev1")
	wantCode(t, err, errcode.ProvisioningNotFound)
	wantCode(t, e.svc.DeleteRegistration(ctx(t), "dev1", ""), errcode.ProvisioningNotFound)
	if _, err := e.hub.GetDevice(ctx(t), "dev1"); err != nil {
		t.Fatalf("the device left the hub with its registration: %v", err)
	}
	again := e.register("dev1", c, "")
	if again.Substatus != SubInitialAssignment {
		t.Fatalf("after deletion = %+v", again)
	}
	tw, _ := e.hub.GetTwin(ctx(t), "dev1", "")
	if tw["tags"].(map[string]any)["v"] != float64(1) {
		t.Fatalf("the initial twin was not applied again: %v", tw["tags"])
	}
	// Deleting the enrollment deletes its registration state, not the device.
	if err := e.svc.DeleteEnrollment(ctx(t), "dev1", ""); err != nil {
		t.Fatal(err)
	}
	if _, _, regs := e.svc.Counts(); regs != 0 {
		t.Fatalf("%d registration states left", regs)
	}
	if _, err := e.hub.GetDevice(ctx(t), "dev1"); err != nil {
		t.Fatal(err)
	}
}

func TestRecordsSurviveReopening(t *testing.T) {
	e := newEnv(t)
	if _, err := e.svc.PutEnrollment(ctx(t), "dev1", symmetric(t, nil), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.PutEnrollmentGroup(ctx(t), "g1", symmetric(t, nil), ""); err != nil {
		t.Fatal(err)
	}
	c := Credential{Token: token(t, "dev1", key1, time.Time{})}
	op, err := e.svc.Register(ctx(t), DefaultIDScope, "dev1", c, []byte(`{"payload":{"a":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	before, _ := e.svc.GetEnrollment("dev1")
	e.reopen()
	after, err := e.svc.GetEnrollment("dev1")
	if err != nil || string(mustJSON(t, after)) != string(mustJSON(t, before)) {
		t.Fatalf("after reopening: %+v, %v\nbefore: %+v", after, err, before)
	}
	if _, err := e.svc.GetEnrollmentGroup("g1"); err != nil {
		t.Fatal(err)
	}
	// A device polling across a restart gets its outcome.
	got, err := e.svc.OperationStatus(DefaultIDScope, "dev1", op.OperationID, c)
	if err != nil || got.Status != RegAssigned || string(got.RegistrationState.Payload) != `{"a":1}` {
		t.Fatalf("operation after reopening = %+v, %v", got, err)
	}
	if n, g, r := e.svc.Counts(); n != 1 || g != 1 || r != 1 {
		t.Fatalf("counts after reopening %d %d %d", n, g, r)
	}
}

// A device the hub has disabled is assigned with new credentials and stays
// disabled: provisioning does not override the hub's own status.
func TestRegisterKeepsADisabledHubDevice(t *testing.T) {
	e := newEnv(t)
	if _, err := e.svc.PutEnrollment(ctx(t), "dev1", symmetric(t, nil), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.hub.PutDevice(ctx(t), "dev1", []byte(`{"deviceId":"dev1","status":"disabled"}`), ""); err != nil {
		t.Fatal(err)
	}
	st := e.register("dev1", Credential{Token: token(t, "dev1", key1, time.Time{})}, "")
	if st.Status != RegAssigned {
		t.Fatalf("state = %+v", st)
	}
	dev, _ := e.hub.GetDevice(ctx(t), "dev1")
	if dev.Status != registry.StatusDisabled || dev.Authentication.SymmetricKey.PrimaryKey != key1 {
		t.Fatalf("device = %+v", dev)
	}
}

func TestParseRegisterBody(t *testing.T) {
	for _, tt := range []struct {
		body, payload string
		ok            bool
	}{
		{"", "", true},
		{"  ", "", true},
		{`{}`, "", true},
		{`{"registrationId":"DEV1"}`, "", true},
		{`{"registrationId":"dev1","payload":null}`, "", true},
		{`{"payload":{"a":[1,2]}}`, `{"a":[1,2]}`, true},
		{`{"payload":"text"}`, `"text"`, true},
		{`{"registrationId":"dev2"}`, "", false},
		{`{"registrationId":5}`, "", false},
		{`[]`, "", false},
		{"{\"payload\":\"\xff\"}", "", false},
		{`{"payload":{"a":"\ud800"}}`, "", false},
	} {
		rb, err := parseRegisterBody("dev1", []byte(tt.body))
		if (err == nil) != tt.ok {
			t.Errorf("%q: %v, want ok=%v", tt.body, err, tt.ok)
			continue
		}
		if err == nil && string(rb.Payload) != tt.payload {
			t.Errorf("%q: payload %s, want %s", tt.body, rb.Payload, tt.payload)
		}
	}
}
