package seed

import (
	"context"
	"encoding/json"
	"github.com/iothub-emulator/iothub-emulator/internal/hubtest"
	"github.com/iothub-emulator/iothub-emulator/internal/storetest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/query"
	"github.com/iothub-emulator/iothub-emulator/registry"
	"github.com/iothub-emulator/iothub-emulator/sas"
)

func loadFull(t *testing.T) *Document {
	t.Helper()
	d, err := Load(filepath.Join("testdata", "full.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestApplyCreates(t *testing.T) {
	h := newHub(t)
	res := mustApply(t, h, loadFull(t))
	want := Result{
		Created:   []string{"thermostat-01", "thermostat-01/sensor", "gateway", "camera", "badge-reader"},
		Updated:   []string{},
		Unchanged: []string{},
	}
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("result %+v, want %+v", res, want)
	}
	got := readState(t, h)
	checks := []struct {
		key  string
		want identityState
	}{
		{"thermostat-01", identityState{Status: "enabled", Auth: "sas", Primary: keyA, Secondary: keyB,
			Tags:     map[string]any{"room": "101", "building": map[string]any{"name": "B1", "floors": []any{1.0, 2.0}}},
			Desired:  map[string]any{"targetTemperature": 21.5, "schedule": map[string]any{"weekdays": map[string]any{"on": "07:00", "off": "18:00"}}},
			Reported: map[string]any{"firmware": "1.0.3", "online": true}}},
		{"thermostat-01/sensor", identityState{Auth: "sas", Primary: keyC, Secondary: keyD,
			Tags: map[string]any{"kind": "temperature"}, Desired: map[string]any{"interval": 5.0}, Reported: map[string]any{"model": "TMP117"}}},
		{"gateway", identityState{Status: "disabled", Auth: "sas", Edge: true, Primary: keyC, Secondary: keyA,
			Tags: map[string]any{}, Desired: map[string]any{}, Reported: map[string]any{}}},
		{"camera", identityState{Status: "enabled", Auth: "selfSigned", Tags: map[string]any{}, Desired: map[string]any{}, Reported: map[string]any{}}},
		{"badge-reader", identityState{Status: "enabled", Auth: "certificateAuthority", Tags: map[string]any{}, Desired: map[string]any{}, Reported: map[string]any{}}},
	}
	// The IoT Edge device comes with its system modules, keys the hub's own.
	for _, m := range []string{"gateway/$edgeAgent", "gateway/$edgeHub"} {
		if _, ok := got[m]; !ok {
			t.Errorf("%s was not created with the IoT Edge device", m)
		}
		delete(got, m)
	}
	for _, c := range checks {
		if !reflect.DeepEqual(got[c.key], c.want) {
			t.Errorf("%s = %+v\nwant %+v", c.key, got[c.key], c.want)
		}
	}
	if len(got) != len(checks) {
		t.Errorf("hub has %d identities, want %d", len(got), len(checks))
	}
	cam, err := h.GetDevice(testContext(t), "camera")
	if err != nil {
		t.Fatal(err)
	}
	if p := cam.Authentication.X509Thumbprint.PrimaryThumbprint; p == nil || *p != "9C7A7F6E6B1A4C0E2F57F3C2E4A1D8B6C5E9F0A1" {
		t.Errorf("camera thumbprint %v", p)
	}
}

// TestApplyTwiceChangesNothing: the second apply of a document writes
// nothing at all, so even versions and etags stay.
func TestApplyTwiceChangesNothing(t *testing.T) {
	h := newHub(t)
	d := loadFull(t)
	mustApply(t, h, d)
	before, exported := versions(t, h), mustExport(t, h)
	res := mustApply(t, h, d)
	if len(res.Created)+len(res.Updated) != 0 || len(res.Unchanged) != 5 {
		t.Fatalf("second apply: %+v", res)
	}
	if after := versions(t, h); !reflect.DeepEqual(before, after) {
		t.Fatalf("versions moved:\nbefore %v\nafter  %v", before, after)
	}
	sameDocument(t, mustExport(t, h), exported)
}

// TestApplyResets: whatever changed since a document was applied is put
// back, and only those identities are written.
func TestApplyResets(t *testing.T) {
	h := newHub(t)
	ctx := testContext(t)
	d := loadFull(t)
	mustApply(t, h, d)
	want := mustExport(t, h)

	// A student's device reports, someone edits tags and desired properties,
	// rotates a key, disables a device and adds one the document does not know.
	if _, err := h.PatchReported(ctx, "thermostat-01", "", []byte(`{"firmware":"2.0.0","extra":{"a":1},"online":null}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := h.UpdateTwin(ctx, "thermostat-01", "sensor", []byte(`{"tags":{"kind":"humidity","x":1},"properties":{"desired":{"interval":null,"other":2}}}`), "", false); err != nil {
		t.Fatal(err)
	}
	cur, err := h.GetDevice(ctx, "gateway")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.PutDevice(ctx, "gateway", []byte(`{"status":"enabled","authentication":{"symmetricKey":{"primaryKey":"`+keyD+`"}}}`), cur.ETag); err != nil {
		t.Fatal(err)
	}
	if _, err := h.PutDevice(ctx, "visitor", []byte(`{}`), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := h.PutModule(ctx, "thermostat-01", "extra-module", []byte(`{}`), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := h.UpdateTwin(ctx, "visitor", "", []byte(`{"tags":{"guest":true}}`), "", false); err != nil {
		t.Fatal(err)
	}
	untouched := versions(t, h)

	res := mustApply(t, h, d)
	wantRes := Result{Created: []string{}, Updated: []string{"thermostat-01", "thermostat-01/sensor", "gateway"}, Unchanged: []string{"camera", "badge-reader"}}
	if !reflect.DeepEqual(res, wantRes) {
		t.Fatalf("result %+v, want %+v", res, wantRes)
	}
	got := mustExport(t, h)
	// The identities the document does not name are still there, as they were.
	var visitor, extra bool
	got.Devices = slices.DeleteFunc(got.Devices, func(dev Device) bool {
		if dev.ID == "visitor" {
			visitor = dev.Tags["guest"] == true
			return true
		}
		return false
	})
	for i := range got.Devices {
		got.Devices[i].Modules = slices.DeleteFunc(got.Devices[i].Modules, func(m Module) bool {
			extra = extra || m.ID == "extra-module"
			return m.ID == "extra-module"
		})
		if len(got.Devices[i].Modules) == 0 {
			got.Devices[i].Modules = nil
		}
	}
	if !visitor || !extra {
		t.Fatalf("apply removed what the document does not name (visitor %v, extra module %v)", visitor, extra)
	}
	sameDocument(t, sortDevices(got), sortDevices(want))
	after := versions(t, h)
	for _, key := range []string{"visitor", "thermostat-01/extra-module", "camera", "badge-reader"} {
		if after[key] != untouched[key] {
			t.Errorf("%s was written: %s -> %s", key, untouched[key], after[key])
		}
	}
}

// sortDevices puts devices and modules in id order, Export's order.
func sortDevices(d *Document) *Document {
	slices.SortFunc(d.Devices, func(a, b Device) int { return strings.Compare(a.ID, b.ID) })
	for _, dev := range d.Devices {
		slices.SortFunc(dev.Modules, func(a, b Module) int { return strings.Compare(a.ID, b.ID) })
	}
	return d
}

// TestApplyWithoutKeys: keys a document leaves out are generated once and
// kept by every later apply; a key it names replaces the current one.
func TestApplyWithoutKeys(t *testing.T) {
	h := newHub(t)
	ctx := testContext(t)
	d := mustParse(t, "devices:\n  - id: d1\n    keys: {secondary: "+keyB+"}\n    modules: [{id: m1}]\n", "")
	mustApply(t, h, d)
	dev, err := h.GetDevice(ctx, "d1")
	if err != nil {
		t.Fatal(err)
	}
	generated := dev.Authentication.SymmetricKey.PrimaryKey
	if generated == "" || dev.Authentication.SymmetricKey.SecondaryKey != keyB {
		t.Fatalf("keys %+v", dev.Authentication.SymmetricKey)
	}
	mod, err := h.GetModule(ctx, "d1", "m1")
	if err != nil {
		t.Fatal(err)
	}
	if res := mustApply(t, h, d); len(res.Unchanged) != 2 {
		t.Fatalf("reapply: %+v", res)
	}
	again, _ := h.GetDevice(ctx, "d1")
	againMod, _ := h.GetModule(ctx, "d1", "m1")
	if *again.Authentication.SymmetricKey != *dev.Authentication.SymmetricKey || *againMod.Authentication.SymmetricKey != *mod.Authentication.SymmetricKey {
		t.Fatal("a reapply changed generated keys")
	}
	d.Devices[0].Keys = &Keys{Primary: keyC}
	d.Devices[0].Modules[0].Keys = &Keys{Secondary: keyD}
	if res := mustApply(t, h, d); !reflect.DeepEqual(res.Updated, []string{"d1", "d1/m1"}) {
		t.Fatalf("key change: %+v", res)
	}
	again, _ = h.GetDevice(ctx, "d1")
	againMod, _ = h.GetModule(ctx, "d1", "m1")
	if *again.Authentication.SymmetricKey != (registry.SymmetricKey{PrimaryKey: keyC, SecondaryKey: keyB}) {
		t.Fatalf("device keys %+v", again.Authentication.SymmetricKey)
	}
	if k := againMod.Authentication.SymmetricKey; k.PrimaryKey != mod.Authentication.SymmetricKey.PrimaryKey || k.SecondaryKey != keyD {
		t.Fatalf("module keys %+v", k)
	}
}

// TestSeededKeysAuthenticate: a device and a module connect with a SAS
// token signed by the key in the document.
func TestSeededKeysAuthenticate(t *testing.T) {
	h := newHub(t)
	mustApply(t, h, loadFull(t))
	expiry := time.Now().Add(time.Hour)
	tests := []struct {
		device, module, key string
		ok                  bool
	}{
		{"thermostat-01", "", keyA, true},
		{"thermostat-01", "", keyB, true},
		{"thermostat-01", "sensor", keyC, true},
		{"thermostat-01", "sensor", keyD, true},
		{"thermostat-01", "", keyC, false},
		{"thermostat-01", "sensor", keyA, false},
		{"gateway", "", keyC, false}, // disabled in the document
	}
	for _, tc := range tests {
		resource := "localhost/devices/" + tc.device
		if tc.module != "" {
			resource += "/modules/" + tc.module
		}
		tok, err := sas.NewToken(resource, tc.key, "", expiry)
		if err != nil {
			t.Fatal(err)
		}
		_, err = h.AuthenticateDevice(tc.device, tc.module, tok)
		if (err == nil) != tc.ok {
			t.Errorf("%s/%s with %.8s…: err = %v, want ok=%v", tc.device, tc.module, tc.key, err, tc.ok)
		}
	}
}

// TestSeededReportedSeenByDevice: reported properties in the document are
// what the device gets when it reads its twin, as if it had sent them.
func TestSeededReportedSeenByDevice(t *testing.T) {
	h := newHub(t)
	mustApply(t, h, loadFull(t))
	for _, tc := range []struct{ device, module, want string }{
		{"thermostat-01", "", `{"firmware":"1.0.3","online":true}`},
		{"thermostat-01", "sensor", `{"model":"TMP117"}`},
	} {
		raw, err := h.DeviceTwin(testContext(t), tc.device, tc.module)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct{ Desired, Reported map[string]any }
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		var want map[string]any
		if err := json.Unmarshal([]byte(tc.want), &want); err != nil {
			t.Fatal(err)
		}
		delete(doc.Reported, "$version")
		if !reflect.DeepEqual(doc.Reported, want) {
			t.Errorf("%s/%s reported %v, want %v", tc.device, tc.module, doc.Reported, want)
		}
		if doc.Desired["$version"] == nil {
			t.Errorf("%s/%s device view lacks desired $version: %s", tc.device, tc.module, raw)
		}
	}
}

// TestApplyReportedPatch: reported properties reach exactly the document's
// content from any starting point, nested objects included.
func TestApplyReportedPatch(t *testing.T) {
	tests := []struct {
		name, start, want string
	}{
		{"from empty", `{}`, `{"a":{"b":{"c":1}},"e":{}}`},
		{"drop extra members deep", `{"a":{"b":{"c":1,"d":2},"x":1},"y":[1]}`, `{"a":{"b":{"c":1}}}`},
		{"object over scalar", `{"a":5}`, `{"a":{"b":true}}`},
		{"scalar over object", `{"a":{"b":true}}`, `{"a":"flat"}`},
		{"empty object keeps", `{"a":{"b":1}}`, `{"a":{}}`},
		{"arrays replace", `{"a":[1,2,3]}`, `{"a":[3]}`},
		{"to empty", `{"a":1,"b":{"c":2}}`, `{}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHub(t)
			ctx := testContext(t)
			if _, err := h.PutDevice(ctx, "d1", []byte(`{}`), ""); err != nil {
				t.Fatal(err)
			}
			if _, err := h.PatchReported(ctx, "d1", "", []byte(tc.start)); err != nil {
				t.Fatal(err)
			}
			var want Properties
			if err := json.Unmarshal([]byte(tc.want), &want); err != nil {
				t.Fatal(err)
			}
			mustApply(t, h, &Document{Devices: []Device{{ID: "d1", Reported: want}}})
			view, err := h.GetTwin(ctx, "d1", "")
			if err != nil {
				t.Fatal(err)
			}
			_, _, got := viewSections(view)
			if !reflect.DeepEqual(got, map[string]any(want)) {
				t.Fatalf("reported %v, want %v", got, want)
			}
		})
	}
}

// TestApplyDesiredNotifies: a desired change reaches a connected device
// once; a reapply or a tags-only change sends nothing.
func TestApplyDesiredNotifies(t *testing.T) {
	rec := hubtest.NewDevices()
	h := newHubOn(t, storetest.Temp(t), rec)
	// The device exists (and could be connected) before the document
	// changes its desired properties; one the document creates has no
	// connection to notify.
	if _, err := h.PutDevice(testContext(t), "d1", []byte(`{}`), ""); err != nil {
		t.Fatal(err)
	}
	d := mustParse(t, "devices:\n  - id: d1\n    desired: {a: 1}\n", "")
	mustApply(t, h, d)
	mustApply(t, h, d)
	d.Devices[0].Tags = Properties{"t": "x"}
	mustApply(t, h, d)
	if desired := rec.Desired(); len(desired) != 1 || !strings.Contains(desired[0], `"a":1`) {
		t.Fatalf("notifications %q, want one with a=1", desired)
	}
}

// TestApplyRefusesBeforeWriting: a document the hub would stop half-way
// through changes nothing.
func TestApplyRefusesBeforeWriting(t *testing.T) {
	h := newHub(t)
	ctx := testContext(t)
	if _, err := h.PutDevice(ctx, "full", []byte(`{}`), ""); err != nil {
		t.Fatal(err)
	}
	for i := range registry.MaxModulesPerDevice {
		if _, err := h.PutModule(ctx, "full", "m"+strings.Repeat("x", i), []byte(`{}`), ""); err != nil {
			t.Fatal(err)
		}
	}
	before := versions(t, h)
	d := &Document{Devices: []Device{{ID: "a-new-one"}, {ID: "full", Modules: []Module{{ID: "one-more"}}}}}
	_, err := Apply(ctx, h, d)
	if !errcode.Is(err, errcode.ArgumentInvalid) || !strings.Contains(err.Error(), `device "full" would have 51 modules`) {
		t.Fatalf("err = %v", err)
	}
	if after := versions(t, h); !reflect.DeepEqual(before, after) {
		t.Fatalf("a refused document changed the hub: %v -> %v", before, after)
	}
	// So does an invalid one built in Go rather than parsed.
	_, err = Apply(ctx, h, &Document{Devices: []Device{{ID: "ok"}, {ID: "bad id"}}})
	if !errcode.Is(err, errcode.ArgumentInvalid) {
		t.Fatalf("err = %v", err)
	}
	if ids := h.DeviceIDs(); !slices.Equal(ids, []string{"full"}) {
		t.Fatalf("devices after refused documents: %v", ids)
	}
	if _, err := Apply(ctx, h, nil); err == nil {
		t.Fatal("a nil document applied")
	}
}

// TestApplyGoValues: a document built in Go with Go's number types is
// applied as if parsed.
func TestApplyGoValues(t *testing.T) {
	h := newHub(t)
	d := &Document{Devices: []Device{{ID: "d1", Status: "Disabled", Desired: Properties{"n": 3, "u": uint8(4), "f": float32(0.5), "list": []any{int64(1)}}}}}
	mustApply(t, h, d)
	got := mustExport(t, h)
	want := &Document{Devices: []Device{{ID: "d1", Status: "disabled", Auth: "sas", Keys: got.Devices[0].Keys,
		Desired: Properties{"n": 3.0, "u": 4.0, "f": 0.5, "list": []any{1.0}}}}}
	sameDocument(t, got, want)
	if d.Devices[0].Status != "Disabled" {
		t.Fatal("Apply changed the caller's document")
	}
}

func TestApplyCancelled(t *testing.T) {
	h := newHub(t)
	ctx, cancel := contextWithCancel(t)
	cancel()
	if _, err := Apply(ctx, h, loadFull(t)); err == nil {
		t.Fatal("a cancelled Apply reported success")
	}
	if ids := h.DeviceIDs(); len(ids) != 0 {
		t.Fatalf("a cancelled Apply wrote %v", ids)
	}
	mustApply(t, h, loadFull(t))
	if _, err := Export(ctx, h); err == nil {
		t.Fatal("a cancelled Export reported success")
	}
}

// TestWorkshopSeed: the example the docs point at parses, applies, and
// gives every identity its own fixed keys.
func TestWorkshopSeed(t *testing.T) {
	d, err := Load(filepath.Join("..", "examples", "workshop", "seed.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	h := newHub(t)
	res := mustApply(t, h, d)
	if len(res.Created) != 33 {
		t.Fatalf("created %d identities, want 30 students, a gateway and its 2 modules: %v", len(res.Created), res.Created)
	}
	keys := map[string]string{}
	for _, dev := range d.Devices {
		ids := []struct {
			id   string
			keys *Keys
		}{{dev.ID, dev.Keys}}
		for _, m := range dev.Modules {
			ids = append(ids, struct {
				id   string
				keys *Keys
			}{dev.ID + "/" + m.ID, m.Keys})
		}
		for _, x := range ids {
			if x.keys == nil || x.keys.Primary == "" || x.keys.Secondary == "" {
				t.Errorf("%s has no fixed keys", x.id)
				continue
			}
			for _, k := range []string{x.keys.Primary, x.keys.Secondary} {
				if other, dup := keys[k]; dup {
					t.Errorf("%s reuses a key of %s", x.id, other)
				}
				keys[k] = x.id
			}
		}
	}
	tok, err := sas.NewToken("localhost/devices/student-07", d.Devices[6].Keys.Primary, "", time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if d.Devices[6].ID != "student-07" {
		t.Fatalf("devices[6] is %s", d.Devices[6].ID)
	}
	if _, err := h.AuthenticateDevice("student-07", "", tok); err != nil {
		t.Fatal(err)
	}
	page, err := h.Query(testContext(t), "SELECT deviceId FROM devices WHERE tags.table = 2", queryPage())
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 5 {
		t.Fatalf("table 2 seats %d students, want 5", len(page.Items))
	}
}

// TestWorkshopGuide keeps docs/workshop.md true: its example document
// parses, the connection string it shows is student-07's, and the error it
// shows is the one Parse gives.
func TestWorkshopGuide(t *testing.T) {
	guide, err := os.ReadFile(filepath.Join("..", "docs", "workshop.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(guide)
	_, example, ok := strings.Cut(text, "```yaml\n")
	example, _, _ = strings.Cut(example, "```")
	if !ok {
		t.Fatal("the guide has no YAML example")
	}
	d := mustParse(t, example, "yaml")
	if len(d.Devices) != 1 || len(d.Devices[0].Modules) != 1 || d.Devices[0].Reported["firmware"] != "1.0.3" {
		t.Fatalf("the guide's example parses as %+v", d)
	}

	seedPath := filepath.Join("..", "examples", "workshop", "seed.yaml")
	workshop, err := Load(seedPath)
	if err != nil {
		t.Fatal(err)
	}
	cs := "HostName=127.0.0.1;DeviceId=student-07;SharedAccessKey=" + workshop.Devices[6].Keys.Primary
	if workshop.Devices[6].ID != "student-07" || strings.Count(text, cs) < 2 {
		t.Errorf("the guide does not show student-07's connection string %s", cs)
	}

	raw, err := os.ReadFile(seedPath)
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(raw), workshop.Devices[1].Keys.Primary, "not-base64!", 1)
	i := strings.Index(broken, "id: student-03")
	broken = broken[:i] + strings.Replace(broken[i:], "ledColor", "led.color", 1)
	_, err = Parse([]byte(broken), "yaml")
	if err == nil {
		t.Fatal("the broken workshop seed parsed")
	}
	msg := errcode.From(err).Message
	if !strings.Contains(text, "```\n"+msg+"\n```") {
		t.Errorf("the guide's example error is not what Parse says:\n%s", msg)
	}
}

func queryPage() query.PageOptions { return query.PageOptions{MaxItemCount: 100} }

func contextWithCancel(t *testing.T) (context.Context, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(testContext(t))
	t.Cleanup(cancel)
	return ctx, cancel
}
