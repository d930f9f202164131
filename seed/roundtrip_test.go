package seed

import (
	"context"
	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/hub"
	"github.com/iothub-emulator/iothub-emulator/registry"
)

// TestRoundTrip: Parse → Apply → Export → Marshal → Parse gives the
// document back, in either format.
func TestRoundTrip(t *testing.T) {
	files := []string{filepath.Join("testdata", "full.yaml"), filepath.Join("testdata", "full.json"), filepath.Join("..", "examples", "workshop", "seed.yaml")}
	for _, file := range files {
		for _, format := range []string{"yaml", "json", ""} {
			t.Run(filepath.Base(file)+"/"+format, func(t *testing.T) {
				d, err := Load(file)
				if err != nil {
					t.Fatal(err)
				}
				h := newHub(t)
				mustApply(t, h, d)
				exported := mustExport(t, h)
				text, err := exported.Marshal(format)
				if err != nil {
					t.Fatal(err)
				}
				back, err := Parse(text, "")
				if err != nil {
					t.Fatalf("Parse of the export: %v\n%s", err, text)
				}
				// Export lists devices in id order, the file in its own.
				sameDocument(t, sortDevices(back), sortDevices(d))
			})
		}
	}
}

// TestExportImport: a hub made through the hub's own API, exported and
// imported into an empty hub, gives the same hub.
func TestExportImport(t *testing.T) {
	src := newHub(t)
	ctx := testContext(t)
	steps := []struct {
		device, module, body string
	}{
		{"a-plain", "", `{}`},
		{"b-disabled-edge", "", `{"status":"disabled","capabilities":{"iotEdge":true}}`},
		{"c-self-signed", "", `{"authentication":{"type":"selfSigned","x509Thumbprint":{"primaryThumbprint":"AA11","secondaryThumbprint":"BB22"}}}`},
		{"d-ca", "", `{"authentication":{"type":"certificateAuthority"}}`},
		{"e-none", "", `{"authentication":{"type":"none"}}`},
		{"a-plain", "m-sas", `{}`},
		{"a-plain", "m-self", `{"authentication":{"x509Thumbprint":{"primaryThumbprint":"CC33"}}}`},
		{"b-disabled-edge", "$edgeAgent", `{"managedBy":"IotEdge"}`}, // made with the device: an update
	}
	for _, s := range steps {
		var err error
		switch {
		case s.module == "":
			_, err = src.PutDevice(ctx, s.device, []byte(s.body), "")
		case s.module == hub.EdgeAgent:
			_, err = src.PutModule(ctx, s.device, s.module, []byte(s.body), "*")
		default:
			_, err = src.PutModule(ctx, s.device, s.module, []byte(s.body), "")
		}
		if err != nil {
			t.Fatalf("%s/%s: %v", s.device, s.module, err)
		}
	}
	twins := []struct{ device, module, service, reported string }{
		{"a-plain", "", `{"tags":{"site":{"name":"north","floors":[1,2]}},"properties":{"desired":{"rate":1.5,"mode":"eco","nested":{"x":{"y":true}}}}}`, `{"fw":"1.2","stats":{"up":12,"list":["a",null,{"k":1}]}}`},
		{"a-plain", "m-sas", `{"tags":{"kind":"t"}}`, `{"ok":false}`},
		{"b-disabled-edge", "", `{"properties":{"desired":{"only":"desired"}}}`, ``},
		{"e-none", "", ``, `{"only":"reported","empty":{}}`},
		{"b-disabled-edge", "$edgeAgent", ``, `{"state":"running"}`}, // a twin with content: exported with its keys
	}
	for _, tw := range twins {
		if tw.service != "" {
			if _, err := src.UpdateTwin(ctx, tw.device, tw.module, []byte(tw.service), "", false); err != nil {
				t.Fatal(err)
			}
		}
		if tw.reported != "" {
			if _, err := src.PatchReported(ctx, tw.device, tw.module, []byte(tw.reported)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, format := range []string{"yaml", "json"} {
		t.Run(format, func(t *testing.T) {
			text, err := mustExport(t, src).Marshal(format)
			if err != nil {
				t.Fatal(err)
			}
			d, err := Parse(text, format)
			if err != nil {
				t.Fatalf("%v\n%s", err, text)
			}
			dst := newHub(t)
			mustApply(t, dst, d)
			want, got := readState(t, src), readState(t, dst)
			// $edgeHub's twin holds nothing, so it is not exported: the
			// import's IoT Edge device gets one of its own, with new keys.
			for _, st := range []map[string]identityState{want, got} {
				if _, ok := st["b-disabled-edge/$edgeHub"]; !ok {
					t.Fatal("b-disabled-edge has no $edgeHub")
				}
				delete(st, "b-disabled-edge/$edgeHub")
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("imported hub differs\ngot  %+v\nwant %+v\nexport:\n%s", got, want, text)
			}
			for _, id := range []string{"c-self-signed", "a-plain/m-self"} {
				if got, want := thumbprints(t, dst, id), thumbprints(t, src, id); got != want || got == "" {
					t.Errorf("%s thumbprints %q, want %q", id, got, want)
				}
			}
		})
	}
}

func thumbprints(t *testing.T, h interface {
	GetDevice(ctx context.Context, id string) (registry.Device, error)
	GetModule(ctx context.Context, deviceID, moduleID string) (registry.Module, error)
}, key string) string {
	t.Helper()
	ctx := testContext(t)
	var a registry.Authentication
	if dev, mod, ok := strings.Cut(key, "/"); ok {
		m, err := h.GetModule(ctx, dev, mod)
		if err != nil {
			t.Fatal(err)
		}
		a = m.Authentication
	} else {
		d, err := h.GetDevice(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		a = d.Authentication
	}
	return deref(a.X509Thumbprint.PrimaryThumbprint) + "," + deref(a.X509Thumbprint.SecondaryThumbprint)
}

// TestMarshalGolden pins what people read: defaults left out, keys in
// schema order, properties sorted.
func TestMarshalGolden(t *testing.T) {
	for _, format := range []string{"yaml", "json"} {
		text, err := fullDocument().Marshal(format)
		if err != nil {
			t.Fatal(err)
		}
		testkit.Golden(t, "full.marshal."+format, text)
		empty, err := (&Document{}).Marshal(format)
		if err != nil {
			t.Fatal(err)
		}
		testkit.Golden(t, "empty.marshal."+format, empty)
	}
	if _, err := fullDocument().Marshal("toml"); !errcode.Is(err, errcode.ArgumentInvalid) {
		t.Fatalf("Marshal(toml): %v", err)
	}
}
