package hub

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/query"
	"github.com/iothub-emulator/iothub-emulator/registry"
	"github.com/iothub-emulator/iothub-emulator/sas"
)

func TestModuleLifecycle(t *testing.T) {
	ctx := context.Background()
	h, rec := newRecordedHub(t)
	_, err := h.PutModule(ctx, "d1", "m1", []byte(`{}`), "")
	wantCode(t, err, errcode.DeviceNotFound)
	if _, err := h.PutDevice(ctx, "d1", []byte(`{}`), ""); err != nil {
		t.Fatal(err)
	}
	m, err := h.PutModule(ctx, "d1", "m1", []byte(`{"moduleId":"m1","deviceId":"d1"}`), "")
	if err != nil {
		t.Fatal(err)
	}
	if m.ConnectionState != registry.Disconnected || m.Authentication.SymmetricKey == nil || m.ETag == "" {
		t.Fatalf("module = %+v", m)
	}
	_, err = h.PutModule(ctx, "d1", "m1", []byte(`{}`), "")
	wantCode(t, err, errcode.ModuleAlreadyExistsOnDevice)
	_, err = h.PutModule(ctx, "d1", "m2", []byte(`{}`), `"*"`)
	wantCode(t, err, errcode.ModuleNotFound)
	_, err = h.PutModule(ctx, "d1", "m1", []byte(`{}`), `"stale"`)
	wantCode(t, err, errcode.PreconditionFailed)
	_, err = h.GetModule(ctx, "d1", "nope")
	wantCode(t, err, errcode.ModuleNotFound)
	_, err = h.GetTwin(ctx, "d1", "nope")
	wantCode(t, err, errcode.ModuleNotFound)

	tw, err := h.GetTwin(ctx, "d1", "m1")
	if err != nil || tw["moduleId"] != "m1" || tw["deviceId"] != "d1" {
		t.Fatalf("module twin %v, %v", tw, err)
	}
	if _, err := h.UpdateTwin(ctx, "d1", "m1", []byte(`{"properties":{"desired":{"scan":true}}}`), "*", false); err != nil {
		t.Fatal(err)
	}
	if _, err := h.PatchReported(ctx, "d1", "m1", []byte(`{"status":"scanning"}`)); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	if fmt.Sprint(rec.desired) != `[d1 v2 {"scan":true,"$version":2}]` {
		t.Fatalf("module desired notification: %v", rec.desired)
	}
	rec.mu.Unlock()
	// The device twin is untouched by the module's writes.
	dtw, _ := h.GetTwin(ctx, "d1", "")
	if dtw["properties"].(map[string]any)["reported"].(map[string]any)["$version"] != float64(1) {
		t.Fatalf("device twin changed by a module write: %v", dtw["properties"])
	}

	page, err := h.Query(ctx, "SELECT * FROM devices.modules WHERE properties.reported.status = 'scanning' AND deviceId IN ['d1','d2']", query.PageOptions{})
	if err != nil || len(page.Items) != 1 || page.Items[0].(map[string]any)["moduleId"] != "m1" {
		t.Fatalf("module query: %+v, %v", page, err)
	}
	if page, _ := h.Query(ctx, "SELECT * FROM devices", query.PageOptions{}); len(page.Items) != 1 {
		t.Fatalf("devices query sees modules: %d rows", len(page.Items))
	}
	list, err := h.ListModules(ctx, "d1")
	if err != nil || len(list) != 1 {
		t.Fatalf("ListModules = %v, %v", list, err)
	}
	if devs := h.ListDevices(ctx, 0); len(devs) != 1 {
		t.Fatalf("ListDevices lists modules: %d", len(devs))
	}

	// Deleting the device deletes its modules.
	if _, err := h.PutModule(ctx, "d1", "m2", []byte(`{}`), ""); err != nil {
		t.Fatal(err)
	}
	if err := h.DeleteDevice(ctx, "d1", "*"); err != nil {
		t.Fatal(err)
	}
	_, err = h.GetModule(ctx, "d1", "m1")
	wantCode(t, err, errcode.DeviceNotFound)
	if page, _ := h.Query(ctx, "SELECT * FROM devices.modules", query.PageOptions{}); len(page.Items) != 0 {
		t.Fatalf("modules of a deleted device still queryable: %v", page.Items)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if fmt.Sprint(rec.disconnects) != "[forget d1/m1 forget d1/m2 forget d1]" {
		t.Fatalf("disconnects on delete: %v", rec.disconnects)
	}
}

func TestModuleLimitAndDelete(t *testing.T) {
	ctx := context.Background()
	h := newHub(t)
	h.PutDevice(ctx, "d1", []byte(`{}`), "")
	for i := range registry.MaxModulesPerDevice {
		if _, err := h.PutModule(ctx, "d1", fmt.Sprintf("m%02d", i), []byte(`{}`), ""); err != nil {
			t.Fatal(err)
		}
	}
	_, err := h.PutModule(ctx, "d1", "one-too-many", []byte(`{}`), "")
	wantCode(t, err, errcode.TooManyModulesOnDevice)
	wantCode(t, h.DeleteModule(ctx, "d1", "m00", `"x"`), errcode.PreconditionFailed)
	if err := h.DeleteModule(ctx, "d1", "m00", ""); err != nil {
		t.Fatal(err)
	}
	wantCode(t, h.DeleteModule(ctx, "d1", "m00", ""), errcode.ModuleNotFound)
	if _, err := h.PutModule(ctx, "d1", "one-more", []byte(`{}`), ""); err != nil {
		t.Fatalf("after a delete there is room again: %v", err)
	}
}

func TestModuleAuthenticationAndRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hub.db")
	h, st := openHub(t, path)
	d, _ := h.PutDevice(ctx, "d1", []byte(`{}`), "")
	m, err := h.PutModule(ctx, "d1", "m1", []byte(`{}`), "")
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	modTok, _ := sas.NewToken("localhost/devices/d1/modules/m1", m.Authentication.SymmetricKey.PrimaryKey, "", exp)
	devTok, _ := sas.NewToken("localhost/devices/d1", d.Authentication.SymmetricKey.PrimaryKey, "", exp)
	if _, err := h.AuthenticateDevice("d1", "m1", modTok); err != nil {
		t.Fatalf("module key: %v", err)
	}
	if _, err := h.AuthenticateDevice("d1", "m1", devTok); err == nil {
		t.Fatal("the device's key authenticated its module")
	}
	if _, err := h.AuthenticateDevice("d1", "", modTok); err == nil {
		t.Fatal("a module token authenticated the device")
	}
	if _, err := h.AuthenticateDevice("d1", "ghost", modTok); err == nil {
		t.Fatal("an unknown module authenticated")
	}
	h.SetConnected(ctx, "d1", "m1", true, "")
	if _, err := h.PatchReported(ctx, "d1", "m1", []byte(`{"k":1}`)); err != nil {
		t.Fatal(err)
	}
	before, _ := h.GetTwin(ctx, "d1", "m1")
	st.Close()

	h2, st2 := openHub(t, path)
	defer st2.Close()
	after, err := h2.GetTwin(ctx, "d1", "m1")
	if err != nil {
		t.Fatal(err)
	}
	if after["connectionState"] != "Disconnected" || after["version"] != before["version"] || after["etag"] != before["etag"] {
		t.Fatalf("module twin after restart: %v (before %v)", after, before)
	}
	if _, err := h2.AuthenticateDevice("d1", "m1", modTok); err != nil {
		t.Fatalf("module key after restart: %v", err)
	}
}

func TestReset(t *testing.T) {
	ctx := context.Background()
	h, rec := newRecordedHub(t)
	for _, id := range []string{"a", "b"} {
		h.PutDevice(ctx, id, []byte(`{}`), "")
	}
	h.PutModule(ctx, "a", "m", []byte(`{}`), "")
	if err := h.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if ids := h.DeviceIDs(); len(ids) != 0 {
		t.Fatalf("devices after reset: %v", ids)
	}
	for _, q := range []string{"SELECT * FROM devices", "SELECT * FROM devices.modules"} {
		if page, _ := h.Query(ctx, q, query.PageOptions{}); len(page.Items) != 0 {
			t.Fatalf("%s after reset: %v", q, page.Items)
		}
	}
	rec.mu.Lock()
	n := len(rec.disconnects)
	rec.mu.Unlock()
	if n != 3 {
		t.Fatalf("%d disconnects, want 3 (two devices and a module)", n)
	}
	// The hub works as new after a reset.
	if _, err := h.PutDevice(ctx, "a", []byte(`{}`), ""); err != nil {
		t.Fatal(err)
	}
}
