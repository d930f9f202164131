package seed

import (
	"context"
	"github.com/iothub-emulator/iothub-emulator/internal/hubtest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/hub"
)

// FuzzParse: Parse never panics and refuses with ArgumentInvalid (or
// MessageTooLarge); whatever it accepts is valid, survives Marshal and
// Parse unchanged in both formats, and applied to an empty hub exports as
// itself (with the keys the hub generated filled in).
func FuzzParse(f *testing.F) {
	for _, name := range []string{"full.yaml", "full.json", "full.marshal.yaml", "full.marshal.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "")
	}
	seeds := []struct{ text, format string }{
		{"devices:\n  - id: d1\n", "yaml"},
		{"devices:\n  - id: d1\n    status: disabled\n    edge: true\n    tags: {a: 1, b: [1, null, {c: x}]}\n", ""},
		{"devices:\n  - id: d1\n    modules: [{id: m1, desired: {n: 0x10}}, {id: m2, auth: none}]\n", ""},
		{"devices:\n  - id: d1\n    tags: &t {a: {b: {c: 1}}}\n    desired: *t\n    reported: {<<: *t, d: 2}\n", ""},
		{`{"devices":[{"id":"d1","reported":{"s":"\u00e9\ud83d\ude00","n":-1.5e-3}}]}`, "json"},
		{"devices:\n  - id: d1\n    thumbprints: {primary: AB, secondary: CD}\n", ""},
		{"a: &a [*a]\n", ""},
		{"devices: [{id: d1, tags: {x: !!binary aGVsbG8=, y: 2001-12-14t21:59:43.10-05:00}}]\n", ""},
		{"devices:\n  - id: 'bad id'\n", ""},
		{"{\"devices\": [}", ""},
		{"\ufeffhub: {}\n", ""},
	}
	for _, s := range seeds {
		f.Add([]byte(s.text), s.format)
	}
	f.Fuzz(func(t *testing.T, data []byte, format string) {
		d, err := Parse(data, format)
		if err != nil {
			if !errcode.Is(err, errcode.ArgumentInvalid) && !errcode.Is(err, errcode.MessageTooLarge) {
				t.Fatalf("error %v has no expected code", err)
			}
			if d != nil {
				t.Fatal("a document came with an error")
			}
			return
		}
		if err := d.Validate(); err != nil {
			t.Fatalf("Parse accepted what Validate refuses: %v", err)
		}
		for _, f := range []string{"yaml", "json"} {
			text, err := d.Marshal(f)
			if err != nil {
				t.Fatalf("Marshal(%s): %v", f, err)
			}
			back, err := Parse(text, f)
			if err != nil {
				t.Fatalf("Parse of Marshal(%s): %v\n%s", f, err, text)
			}
			sameDocument(t, back, d)
		}
		if len(d.Devices) > 20 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		h := hubtest.Open(t, hub.Options{})
		if _, err := Apply(ctx, h, d); err != nil {
			t.Fatalf("Apply of a parsed document: %v", err)
		}
		got, err := Export(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		sameDocument(t, got, withKeysOf(sortDevices(cloneDocument(t, d)), got))
	})
}

// cloneDocument copies d through its own encoding, which the fuzz target
// has just shown to be faithful.
func cloneDocument(t *testing.T, d *Document) *Document {
	t.Helper()
	text, err := d.Marshal("json")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(text, "json")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// withKeysOf fills in the keys the hub generated for identities whose
// document left them out.
func withKeysOf(d, exported *Document) *Document {
	fill := func(want **Keys, got *Keys) {
		if got == nil {
			return
		}
		k := *got
		if *want != nil {
			if (*want).Primary != "" {
				k.Primary = (*want).Primary
			}
			if (*want).Secondary != "" {
				k.Secondary = (*want).Secondary
			}
		}
		*want = &k
	}
	for i := range d.Devices {
		if i >= len(exported.Devices) {
			break
		}
		fill(&d.Devices[i].Keys, exported.Devices[i].Keys)
		for j := range d.Devices[i].Modules {
			if j < len(exported.Devices[i].Modules) {
				fill(&d.Devices[i].Modules[j].Keys, exported.Devices[i].Modules[j].Keys)
			}
		}
	}
	return d
}
