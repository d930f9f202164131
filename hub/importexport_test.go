package hub

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// exportAll collects an export's lines.
func exportAll(t *testing.T, h *Hub, excludeKeys bool) []json.RawMessage {
	t.Helper()
	var lines []json.RawMessage
	err := h.ExportDevices(context.Background(), excludeKeys, func(line []byte) error {
		lines = append(lines, append(json.RawMessage(nil), line...))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

func TestExportImportRoundTrip(t *testing.T) {
	ctx := context.Background()
	src := newHub(t)
	const k1, k2 = "NB8od74PPD3jjNrlu0L12lab0PZAWIVQPizAZTQ0otw=", "y/Zj70f+7jet605lDwhNIGB8soZa0ePIGld/jEjtp9s="
	mustPut(t, src, "d1", `{"status":"disabled","statusReason":"spare","authentication":{"type":"sas","symmetricKey":{"primaryKey":"`+k1+`","secondaryKey":"`+k2+`"}}}`)
	mustPut(t, src, "gw", `{"capabilities":{"iotEdge":true}}`)
	if _, err := src.PutModule(ctx, "d1", "m1", []byte(`{"authentication":{"type":"sas","symmetricKey":{"primaryKey":"`+k2+`","secondaryKey":"`+k1+`"}}}`), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := src.UpdateTwin(ctx, "d1", "", []byte(`{"tags":{"site":"north"},"properties":{"desired":{"rate":5,"led":{"on":true}}}}`), "", false); err != nil {
		t.Fatal(err)
	}
	if _, err := src.PatchReported(ctx, "d1", "", []byte(`{"fw":"1.0"}`)); err != nil {
		t.Fatal(err)
	}
	lines := exportAll(t, src, false)
	var ids []string
	for _, l := range lines {
		var it struct{ ID, ModuleID string }
		json.Unmarshal(l, &it)
		ids = append(ids, identityKey(it.ID, it.ModuleID))
	}
	if want := []string{"d1", "d1/m1", "gw", "gw/$edgeAgent", "gw/$edgeHub"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("exported %v, want %v", ids, want)
	}
	var first map[string]any
	json.Unmarshal(lines[0], &first)
	if first["status"] != "disabled" || first["statusReason"] != "spare" || first["twinETag"] == "" ||
		first["authentication"].(map[string]any)["symmetricKey"].(map[string]any)["primaryKey"] != k1 {
		t.Fatalf("exported d1: %s", lines[0])
	}

	dst := newHub(t)
	if errs := dst.ImportDevices(ctx, lines); len(errs) != 0 {
		t.Fatalf("importing an export: %+v", errs)
	}
	d1, err := dst.GetDevice(ctx, "d1")
	if err != nil {
		t.Fatal(err)
	}
	if d1.Status != "disabled" || d1.Authentication.SymmetricKey.PrimaryKey != k1 {
		t.Fatalf("imported d1 %+v", d1)
	}
	tw, _ := dst.GetTwin(ctx, "d1", "")
	props := tw["properties"].(map[string]any)
	if tw["tags"].(map[string]any)["site"] != "north" || props["desired"].(map[string]any)["rate"] != 5.0 {
		t.Fatalf("imported twin %v", tw)
	}
	if _, ok := props["reported"].(map[string]any)["fw"]; ok {
		t.Fatal("reported properties were imported; they belong to the device")
	}
	m1, err := dst.GetModule(ctx, "d1", "m1")
	if err != nil || m1.Authentication.SymmetricKey.PrimaryKey != k2 {
		t.Fatalf("imported module %+v %v", m1, err)
	}
	// Importing it again is createOrUpdate: no error, nothing lost.
	if errs := dst.ImportDevices(ctx, lines); len(errs) != 0 {
		t.Fatalf("re-import: %+v", errs)
	}

	// Keys excluded: exported as null, and an import of such a line makes new ones.
	for _, l := range exportAll(t, src, true) {
		if strings.Contains(string(l), k1) || strings.Contains(string(l), k2) {
			t.Fatalf("excludeKeys exported a key: %s", l)
		}
	}
}

func TestImportLineErrors(t *testing.T) {
	ctx := context.Background()
	h := newHub(t)
	mustPut(t, h, "taken", `{}`)
	before := exportAll(t, h, false)
	lines := []json.RawMessage{
		json.RawMessage(`{"id":"taken","importMode":"create"}`),
		json.RawMessage(`{"id":"taken","importMode":"deleteIfMatchETag","eTag":"stale"}`),
		json.RawMessage(`{"id":"ghost","importMode":"delete"}`),
		json.RawMessage(`{"id":"x","importMode":"upsert"}`),
		json.RawMessage(`[1]`),
		json.RawMessage(`{"id":"bad id!?/","importMode":"create"}`),
		json.RawMessage(`{"id":"new","importMode":"createOrUpdate","tags":{"a":1}}`),
	}
	errs := h.ImportDevices(ctx, lines)
	want := []errcode.Code{errcode.DeviceAlreadyExists, errcode.PreconditionFailed, errcode.DeviceNotFound,
		errcode.ArgumentInvalid, errcode.ArgumentInvalid, errcode.ArgumentInvalid}
	if len(errs) != len(want) {
		t.Fatalf("errors %+v, want %d", errs, len(want))
	}
	for i, e := range errs {
		if e.ErrorCode != want[i].Name() {
			t.Errorf("error %d: %+v, want %s", i, e, want[i].Name())
		}
	}
	if errs[0].DeviceID != "taken" {
		t.Errorf("error 0 names %q", errs[0].DeviceID)
	}
	if _, err := h.GetDevice(ctx, "new"); err != nil {
		t.Fatalf("the good line after the bad ones: %v", err)
	}
	// The failed lines changed nothing.
	after := exportAll(t, h, false)
	if !reflect.DeepEqual(after[len(after)-1], before[len(before)-1]) {
		t.Fatalf("taken changed: %s → %s", before[len(before)-1], after[len(after)-1])
	}
}

func mustPut(t *testing.T, h *Hub, id, body string) {
	t.Helper()
	if _, err := h.PutDevice(context.Background(), id, []byte(body), ""); err != nil {
		t.Fatal(err)
	}
}
