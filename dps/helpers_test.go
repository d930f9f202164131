package dps

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"path/filepath"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/hub"
	"github.com/iothub-emulator/iothub-emulator/internal/hubtest"
	"github.com/iothub-emulator/iothub-emulator/internal/storetest"
	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
	"github.com/iothub-emulator/iothub-emulator/sas"
	"github.com/iothub-emulator/iothub-emulator/store"
)

// Fixed keys, so a test can sign with them.
const (
	key1 = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	key2 = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA="
	key3 = "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCA="
)

// env is a service on a real bbolt store, linked to a real hub on the same
// store, as the emulator wires them.
type env struct {
	t    *testing.T
	path string
	st   *store.File
	hub  *hub.Hub
	svc  *Service
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, path: filepath.Join(t.TempDir(), "hub.db")}
	e.open()
	return e
}

func (e *env) open() {
	e.t.Helper()
	e.st = storetest.Open(e.t, e.path)
	e.hub = hubtest.Open(e.t, hub.Options{Store: e.st})
	svc, err := Open(Options{Store: e.st, Hub: e.hub})
	if err != nil {
		e.t.Fatal(err)
	}
	e.svc = svc
}

// reopen closes the hub and the store and opens them and the service again
// on the same file.
func (e *env) reopen() {
	e.t.Helper()
	e.hub.Close()
	if err := e.st.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.open()
}

func ctx(t testing.TB) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// token is a registering device's SAS token for registrationID, signed
// with key, expiring at exp (zero: in an hour).
func token(t testing.TB, registrationID, key string, exp time.Time) string {
	t.Helper()
	if exp.IsZero() {
		exp = time.Now().Add(time.Hour)
	}
	tok, err := sas.NewToken(DefaultIDScope+"/registrations/"+registrationID, key, "registration", exp)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func certPEM(c *testkit.Cert) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw}))
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// symmetric is an individual (or group) enrollment body with fixed keys
// and the extra members given.
func symmetric(t testing.TB, extra map[string]any) []byte {
	t.Helper()
	body := map[string]any{"attestation": map[string]any{"type": "symmetricKey",
		"symmetricKey": map[string]any{"primaryKey": key1, "secondaryKey": key2}}}
	for k, v := range extra {
		body[k] = v
	}
	return mustJSON(t, body)
}

// x509Body is an X.509 enrollment body: client certificates for an
// individual enrollment, signing certificates for a group.
func x509Body(t testing.TB, group bool, certs ...string) []byte {
	t.Helper()
	set := map[string]any{"primary": map[string]any{"certificate": certs[0]}}
	if len(certs) > 1 {
		set["secondary"] = map[string]any{"certificate": certs[1]}
	}
	which := "clientCertificates"
	if group {
		which = "signingCertificates"
	}
	return mustJSON(t, map[string]any{"attestation": map[string]any{"type": "x509", "x509": map[string]any{which: set}}})
}

// wantCode fails unless err carries code.
func wantCode(t testing.TB, err error, code errcode.Code) {
	t.Helper()
	if !errcode.Is(err, code) {
		t.Fatalf("error %v, want %v", err, code)
	}
}

func sasToken(resource, key, keyName string, exp time.Time) (string, error) {
	return sas.NewToken(resource, key, keyName, exp)
}
