package hub

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/query"
	"github.com/iothub-emulator/iothub-emulator/registry"
)

func TestCreateMany(t *testing.T) {
	ctx := context.Background()
	h := newHub(t)
	items := []NewIdentity{
		{DeviceID: "d1", Body: []byte(`{}`), Tags: map[string]any{"site": "a"}, Desired: map[string]any{"rate": 2.0}, Reported: map[string]any{"fw": "1"}},
		{DeviceID: "d1", ModuleID: "m1", Body: []byte(`{}`), Reported: map[string]any{"ok": true}},
		{DeviceID: "gw", Body: []byte(`{"capabilities":{"iotEdge":true}}`)},
	}
	if err := h.CreateMany(ctx, items); err != nil {
		t.Fatal(err)
	}
	tw, err := h.GetTwin(ctx, "d1", "")
	if err != nil {
		t.Fatal(err)
	}
	props := tw["properties"].(map[string]any)
	if tw["tags"].(map[string]any)["site"] != "a" || props["desired"].(map[string]any)["rate"] != 2.0 || props["reported"].(map[string]any)["fw"] != "1" {
		t.Fatalf("d1 twin %v", tw)
	}
	// The same writes one at a time give the same versions.
	slow := newHub(t)
	mustPut(t, slow, "d1", `{}`)
	if _, err := slow.UpdateTwin(ctx, "d1", "", []byte(`{"tags":{"site":"a"},"properties":{"desired":{"rate":2}}}`), "", true); err != nil {
		t.Fatal(err)
	}
	if _, err := slow.PatchReported(ctx, "d1", "", []byte(`{"fw":"1"}`)); err != nil {
		t.Fatal(err)
	}
	want, _ := slow.GetTwin(ctx, "d1", "")
	for _, k := range []string{"version", "etag"} {
		if tw[k] != want[k] {
			t.Errorf("%s %v, one at a time %v", k, tw[k], want[k])
		}
	}
	if mods, _ := h.ListModules(ctx, "gw"); len(mods) != 2 {
		t.Fatalf("IoT Edge device modules %v", mods)
	}
	if _, err := h.GetModule(ctx, "d1", "m1"); err != nil {
		t.Fatal(err)
	}
}

func TestCreateManyRefusesWhole(t *testing.T) {
	ctx := context.Background()
	h := newHub(t)
	mustPut(t, h, "taken", `{}`)
	many := make([]NewIdentity, 0, registry.MaxModulesPerDevice+2)
	many = append(many, NewIdentity{DeviceID: "full", Body: []byte(`{}`)})
	for i := 0; i <= registry.MaxModulesPerDevice; i++ {
		many = append(many, NewIdentity{DeviceID: "full", ModuleID: "m" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Body: []byte(`{}`)})
	}
	tests := []struct {
		name  string
		items []NewIdentity
		code  errcode.Code
	}{
		{"exists", []NewIdentity{{DeviceID: "new", Body: []byte(`{}`)}, {DeviceID: "taken", Body: []byte(`{}`)}}, errcode.DeviceAlreadyExists},
		{"twice", []NewIdentity{{DeviceID: "new", Body: []byte(`{}`)}, {DeviceID: "new", Body: []byte(`{}`)}}, errcode.DeviceAlreadyExists},
		{"module without device", []NewIdentity{{DeviceID: "new", Body: []byte(`{}`)}, {DeviceID: "ghost", ModuleID: "m", Body: []byte(`{}`)}}, errcode.DeviceNotFound},
		{"bad identity", []NewIdentity{{DeviceID: "new", Body: []byte(`{}`)}, {DeviceID: "bad id", Body: []byte(`{}`)}}, errcode.ArgumentInvalid},
		{"bad twin", []NewIdentity{{DeviceID: "new", Body: []byte(`{}`), Tags: map[string]any{"a.b": 1.0}}}, errcode.ArgumentInvalid},
		{"bad reported", []NewIdentity{{DeviceID: "new", Body: []byte(`{}`), Reported: map[string]any{"$x": 1.0}}}, errcode.ArgumentInvalid},
		{"too many modules", many, errcode.TooManyModulesOnDevice},
	}
	before := h.DeviceIDs()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := h.CreateMany(ctx, tt.items); !errcode.Is(err, tt.code) {
				t.Fatalf("err %v, want %v", err, tt.code)
			}
			if got := h.DeviceIDs(); !reflect.DeepEqual(got, before) {
				t.Fatalf("a refused call created %v", got)
			}
		})
	}
}

func TestQueryEncoded(t *testing.T) {
	ctx := context.Background()
	h := newHub(t)
	mustPut(t, h, "d1", `{}`)
	mustPut(t, h, "d2", `{}`)
	if _, err := h.UpdateTwin(ctx, "d1", "", []byte(`{"tags":{"x":{"y":1}},"properties":{"desired":{"a":"<b>"}}}`), "", false); err != nil {
		t.Fatal(err)
	}
	want, err := h.Query(ctx, "SELECT * FROM devices", query.PageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	page, twins, err := h.QueryEncoded(ctx, "SELECT * FROM devices", query.PageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if page.ItemType != query.ItemTypeTwin || len(twins) != 2 {
		t.Fatalf("item type %q, %d twins", page.ItemType, len(twins))
	}
	for i, it := range want.Items {
		w, _ := json.Marshal(it)
		if string(twins[i]) != string(w) {
			t.Errorf("item %d:\n got %s\nwant %s", i, twins[i], w)
		}
	}
	// Other pages come as items.
	page, twins, err = h.QueryEncoded(ctx, "SELECT deviceId FROM devices", query.PageOptions{})
	if err != nil || twins != nil || len(page.Items) != 2 {
		t.Fatalf("projection: %d items, twins %v, %v", len(page.Items), twins, err)
	}
}

// TestSideIndexes: a device's modules and the identities showing a
// configurations property are found through indexes kept on every write.
func TestSideIndexes(t *testing.T) {
	ctx := context.Background()
	h := newHub(t)
	mustPut(t, h, "d1", `{}`)
	mustPut(t, h, "d10", `{}`) // a prefix of neither "d1/" nor the reverse
	for _, m := range []string{"b", "a"} {
		if _, err := h.PutModule(ctx, "d1", m, []byte(`{}`), ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.PutModule(ctx, "d10", "x", []byte(`{}`), ""); err != nil {
		t.Fatal(err)
	}
	ids := func(dev string) []string {
		mods, err := h.ListModules(ctx, dev)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range mods {
			out = append(out, m.ModuleID)
		}
		return out
	}
	if got := ids("d1"); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Fatalf("d1 modules %v", got)
	}
	if err := h.DeleteModule(ctx, "d1", "a", ""); err != nil {
		t.Fatal(err)
	}
	if got := ids("d1"); !reflect.DeepEqual(got, []string{"b"}) {
		t.Fatalf("d1 modules after a delete %v", got)
	}
	if err := h.DeleteDevice(ctx, "d1", ""); err != nil {
		t.Fatal(err)
	}
	mustPut(t, h, "d1", `{}`)
	if got := ids("d1"); len(got) != 0 {
		t.Fatalf("a re-created device has modules %v", got)
	}
	if got := ids("d10"); !reflect.DeepEqual(got, []string{"x"}) {
		t.Fatalf("d10 modules %v", got)
	}

	if got := h.ConfigurationHolders(); len(got) != 0 {
		t.Fatalf("holders %v", got)
	}
	if err := h.SetConfigurations(ctx, "d10", "x", map[string]string{"c": ConfigurationApplied}); err != nil {
		t.Fatal(err)
	}
	if got := h.ConfigurationHolders(); !reflect.DeepEqual(got, [][2]string{{"d10", "x"}}) {
		t.Fatalf("holders %v", got)
	}
	if err := h.SetConfigurations(ctx, "d10", "x", nil); err != nil {
		t.Fatal(err)
	}
	if got := h.ConfigurationHolders(); len(got) != 0 {
		t.Fatalf("holders after clearing %v", got)
	}
}
