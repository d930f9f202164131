package seed

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// fullDocument is testdata/full.yaml and testdata/full.json in canonical form.
func fullDocument() *Document {
	return &Document{Devices: []Device{
		{
			ID: "thermostat-01", Status: "enabled", Auth: "sas",
			Keys: &Keys{Primary: keyA, Secondary: keyB},
			Tags: Properties{"room": "101", "building": map[string]any{"name": "B1", "floors": []any{1.0, 2.0}}},
			Desired: Properties{"targetTemperature": 21.5, "schedule": map[string]any{
				"weekdays": map[string]any{"on": "07:00", "off": "18:00"}}},
			Reported: Properties{"firmware": "1.0.3", "online": true},
			Modules: []Module{{
				ID: "sensor", Auth: "sas", Keys: &Keys{Primary: keyC, Secondary: keyD},
				Tags: Properties{"kind": "temperature"}, Desired: Properties{"interval": 5.0}, Reported: Properties{"model": "TMP117"},
			}},
		},
		{ID: "gateway", Status: "disabled", Edge: true, Auth: "sas", Keys: &Keys{Primary: keyC, Secondary: keyA}},
		{ID: "camera", Status: "enabled", Auth: "selfSigned", Thumbprints: &Thumbprints{
			Primary: "9C7A7F6E6B1A4C0E2F57F3C2E4A1D8B6C5E9F0A1", Secondary: "1A0F9E5C6B8D1A4E2C3F75F2E0C4A1B6E7F6A7C9"}},
		{ID: "badge-reader", Status: "enabled", Auth: "certificateAuthority"},
	}}
}

func TestParseFiles(t *testing.T) {
	yamlText, err := os.ReadFile(filepath.Join("testdata", "full.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	jsonText, err := os.ReadFile(filepath.Join("testdata", "full.json"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, format string
		data         []byte
	}{
		{"yaml", "yaml", yamlText},
		{"yaml sniffed", "", yamlText},
		{"json", "json", jsonText},
		{"json sniffed", "", jsonText},
		{"json upper-case format", "JSON", jsonText},
		{"yaml with a byte order mark", "", append([]byte("\ufeff"), yamlText...)},
		{"json read as yaml", "yaml", []byte(`{"hub": {}, "devices": [{"id": "gateway", "status": "disabled", "edge": true, "keys": {"primary": "` + keyC + `", "secondary": "` + keyA + `"}}]}`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := mustParse(t, string(tc.data), tc.format)
			want := fullDocument()
			if tc.name == "json read as yaml" {
				want.Devices = want.Devices[1:2]
			}
			sameDocument(t, got, want)
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	yamlText, err := os.ReadFile(filepath.Join("testdata", "full.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"hub.yaml", "hub.YML", "hub.seed"} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, yamlText, 0o644); err != nil {
			t.Fatal(err)
		}
		d, err := Load(path)
		if err != nil {
			t.Fatalf("Load(%s): %v", name, err)
		}
		sameDocument(t, d, fullDocument())
	}
	// A .json file is read as JSON only: YAML in it is an error.
	path := filepath.Join(dir, "hub.json")
	if err := os.WriteFile(path, yamlText, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "hub.json") || !strings.Contains(err.Error(), "line 1, column 1:") {
		t.Fatalf("Load of YAML named .json: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Fatalf("Load of a missing file: %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err
		}
		err = u.Unwrap()
	}
}

// TestParseCanonical shows what Parse makes of the many ways to write the
// same thing.
func TestParseCanonical(t *testing.T) {
	tests := []struct {
		name, format, text string
		want               *Document
	}{
		{"empty hub", "", "hub: {}\ndevices: []\n", &Document{Devices: []Device{}}},
		{"no devices key", "", "hub: {}\n", &Document{Devices: []Device{}}},
		{"empty json", "", `{}`, &Document{Devices: []Device{}}},
		{"defaults filled", "", "devices:\n  - id: d1\n", &Document{Devices: []Device{{ID: "d1", Status: "enabled", Auth: "sas"}}}},
		{"spellings", "", "devices:\n  - id: d1\n    status: Disabled\n    auth: SAS\n",
			&Document{Devices: []Device{{ID: "d1", Status: "disabled", Auth: "sas"}}}},
		{"thumbprints imply selfSigned", "", "devices:\n  - id: d1\n    thumbprints: {primary: AB}\n",
			&Document{Devices: []Device{{ID: "d1", Status: "enabled", Auth: "selfSigned", Thumbprints: &Thumbprints{Primary: "AB"}}}}},
		{"empty sections and keys drop", "", "devices:\n  - id: d1\n    keys: {}\n    tags: {}\n    desired:\n    reported: ~\n    modules: []\n",
			&Document{Devices: []Device{{ID: "d1", Status: "enabled", Auth: "sas"}}}},
		{"null members mean absent", "", "devices:\n  - id: d1\n    tags: {a: null, b: {c: ~}, d: [1, null]}\n",
			&Document{Devices: []Device{{ID: "d1", Status: "enabled", Auth: "sas", Tags: Properties{"b": map[string]any{}, "d": []any{1.0, nil}}}}}},
		{"yaml scalars", "", "devices:\n  - id: d1\n    desired: {hex: 0x1F, big: 1_000, f: 1.5e3, day: 2024-01-02, yes: yes, t: true, s: '12', 7: seven}\n",
			&Document{Devices: []Device{{ID: "d1", Status: "enabled", Auth: "sas", Desired: Properties{
				"hex": 31.0, "big": 1000.0, "f": 1500.0, "day": "2024-01-02", "yes": "yes", "t": true, "s": "12", "7": "seven"}}}}},
		{"anchors and merge keys", "", `
x-defaults: &student
  desired: {interval: 10}
devices:
  - id: d1
    tags: &tags {table: 1, <<: {table: 9, extra: x}}
  - id: d2
    tags: *tags
`, nil},
		{"merge keys", "", `
devices:
  - id: d1
    tags:
      <<: [{a: 1, b: 1}, {b: 2, c: 2}]
      c: 3
`, &Document{Devices: []Device{{ID: "d1", Status: "enabled", Auth: "sas", Tags: Properties{"a": 1.0, "b": 1.0, "c": 3.0}}}}},
		{"aliases", "", `
devices:
  - id: d1
    tags: &tags {table: 1, <<: {table: 9, extra: x}}
  - id: d2
    tags: *tags
`, &Document{Devices: []Device{
			{ID: "d1", Status: "enabled", Auth: "sas", Tags: Properties{"table": 1.0, "extra": "x"}},
			{ID: "d2", Status: "enabled", Auth: "sas", Tags: Properties{"table": 1.0, "extra": "x"}},
		}}},
		{"anchored sections", "", "devices:\n  - id: d1\n    desired: &lesson1 {telemetryIntervalSeconds: 10}\n  - id: d2\n    desired: *lesson1\n",
			&Document{Devices: []Device{
				{ID: "d1", Status: "enabled", Auth: "sas", Desired: Properties{"telemetryIntervalSeconds": 10.0}},
				{ID: "d2", Status: "enabled", Auth: "sas", Desired: Properties{"telemetryIntervalSeconds": 10.0}},
			}}},
		{"json numbers", "json", `{"devices":[{"id":"d1","desired":{"a":1,"b":1.0,"c":-0.5,"d":1e3}}]}`,
			&Document{Devices: []Device{{ID: "d1", Status: "enabled", Auth: "sas", Desired: Properties{"a": 1.0, "b": 1.0, "c": -0.5, "d": 1000.0}}}}},
		{"json escapes", "json", `{"devices":[{"id":"d1","tags":{"smile":"\ud83d\ude00","slash":"a\/b"}}]}`,
			&Document{Devices: []Device{{ID: "d1", Status: "enabled", Auth: "sas", Tags: Properties{"smile": "😀", "slash": "a/b"}}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Parse([]byte(tc.text), tc.format)
			if tc.want == nil {
				// Unknown top-level fields are refused even as anchor holders.
				if err == nil || !strings.Contains(err.Error(), `unknown field "x-defaults"`) {
					t.Fatalf("err = %v, want the unknown field refused", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			sameDocument(t, d, tc.want)
		})
	}
}

func TestParseErrors(t *testing.T) {
	long := strings.Repeat("x", 4097)
	deep := "{a: {a: {a: {a: {a: {a: {a: {a: {a: {a: {a: {a: 1}}}}}}}}}}}}"
	big := "devices:\n  - id: d1\n    desired:\n"
	for i := range 400 {
		big += "      p" + strings.Repeat("0", 3) + string(rune('a'+i%26)) + strings.Repeat("y", i/26) + ": " + strings.Repeat("v", 100) + "\n"
	}
	many := "devices:\n  - id: d1\n    modules:\n"
	for i := range 51 {
		many += "      - id: m" + strings.Repeat("i", i+1) + "\n"
	}
	lotsOfErrors := "devices:\n"
	for range 25 {
		lotsOfErrors += "  - id: 'bad id'\n"
	}
	tests := []struct {
		name, format, text string
		want               []string // substrings of the message, in any order
	}{
		{"empty", "", "  \n", []string{"empty"}},
		{"bad format", "xml", "devices: []", []string{`format must be "yaml" or "json", not "xml"`}},
		{"not a mapping", "", "- a\n", []string{"must be a mapping"}},
		{"yaml syntax", "", "devices:\n - id: a\n  - id: b\n", []string{"line 1", "expected '-'"}},
		{"two documents", "", "devices: []\n---\ndevices: []\n", []string{"line 2", "second YAML document"}},
		{"unknown top-level field", "", "hub: {}\ndevice: []\n", []string{"line 2", `unknown field "device" in the document`, "known: hub, devices"}},
		{"unknown device field", "", "devices:\n  - id: a\n    tag: {x: 1}\n", []string{"line 3", `unknown field "tag" in a device`}},
		{"unknown module field", "", "devices:\n  - id: a\n    modules:\n      - id: m\n        edge: true\n", []string{"line 5", `unknown field "edge" in a module`}},
		{"unknown key field", "", "devices:\n  - id: a\n    keys: {primay: x}\n", []string{"line 3", `unknown field "primay" in keys`}},
		{"hub is reserved", "", "hub: {name: x}\n", []string{"line 1", `unknown field "name" in hub`}},
		{"json unknown field", "json", "{\"devices\": [\n  {\"id\": \"a\",\n   \"idd\": 1}]}", []string{"line 3, column 4", `unknown field "idd"`}},
		{"json syntax", "json", "{\"devices\": [\n  {\"id\": \"a\" \"x\"}]}", []string{"line 2, column 14", "invalid character"}},
		{"json sniffed syntax", "", "{\"devices\": [\n  {\"id\": \"a\" \"x\"}]}", []string{"line 2, column 14", "invalid character"}},
		{"json with a trailing comma", "json", "{\"devices\": [\n  {\"id\": \"a\",}]}", []string{"line 2, column 14"}},
		{"json wrong type", "json", `{"devices": [{"id": 5}]}`, []string{"line 1, column 22", "must be a string"}},
		{"json trailing data", "json", `{"devices": []} {}`, []string{"data after the JSON document"}},
		{"json number out of range", "json", `{"devices": [{"id": "a", "tags": {"x": 1e400}}]}`, []string{"1e400 is out of range"}},
		{"yaml wrong type", "", "devices: {}\n", []string{"line 1", "into a list"}},
		{"yaml id not a string", "", "devices:\n  - id: [a]\n", []string{"line 2", "into a string"}},
		{"duplicate field", "", "devices:\n  - id: a\n    id: b\n", []string{"line 3", `"id" already defined at line 2`}},
		{"duplicate property", "", "devices:\n  - id: a\n    tags:\n      x: 1\n      x: 2\n", []string{"line 5", `"x" is already defined at line 4`}},
		{"section not a mapping", "", "devices:\n  - id: a\n    tags: 5\n", []string{"line 3", "expected a mapping of properties"}},
		{"infinite number", "", "devices:\n  - id: a\n    tags: {x: .inf}\n", []string{"line 3", "not finite"}},
		{"custom tag", "", "devices:\n  - id: a\n    tags: {x: !secret abc}\n", []string{"line 3", "unsupported YAML tag !secret"}},
		{"list as property name", "", "devices:\n  - id: a\n    tags: {[a]: 1}\n", []string{"line 3", "property name"}},
		{"missing id", "", "devices:\n  - status: enabled\n", []string{"line 2: devices[0]", "Device id must not be empty"}},
		{"bad device id", "", "devices:\n  - id: ok\n  - id: has space\n", []string{"line 3: devices[1]", `"has space" is invalid`}},
		{"bad module id", "", "devices:\n  - id: a\n    modules:\n      - id: a/b\n", []string{"line 4: devices[0].modules[0]", `Module id "a/b" is invalid`}},
		{"duplicate device", "", "devices:\n  - id: a\n  - id: b\n  - id: a\n", []string{"line 4: devices[2] (\"a\")", "already used by devices[0]"}},
		{"duplicate module", "", "devices:\n  - id: a\n    modules:\n      - id: m\n      - id: m\n", []string{"line 5", "already used by modules[0]"}},
		{"too many modules", "", many, []string{"51 modules"}},
		{"bad status", "", "devices:\n  - id: a\n    status: paused\n", []string{"line 2", `not "paused"`}},
		{"bad auth", "", "devices:\n  - id: a\n    auth: password\n", []string{"line 2", `not "password"`}},
		{"keys without sas", "", "devices:\n  - id: a\n    auth: none\n    keys: {primary: " + keyA + "}\n", []string{"keys are only for auth sas"}},
		{"key not base64", "", "devices:\n  - id: a\n    keys: {primary: not-base64!}\n", []string{"keys.primary is not base64"}},
		{"key too short", "", "devices:\n  - id: a\n    keys: {secondary: YWJj}\n", []string{"keys.secondary decodes to 3 bytes"}},
		{"module key too long", "", "devices:\n  - id: a\n    modules:\n      - id: m\n        keys: {primary: " + strings.Repeat("A", 88) + "}\n", []string{"line 4", "decodes to 66 bytes"}},
		{"selfSigned without thumbprint", "", "devices:\n  - id: a\n    auth: selfSigned\n", []string{"needs thumbprints.primary"}},
		{"thumbprints with sas", "", "devices:\n  - id: a\n    auth: sas\n    thumbprints: {primary: AB}\n", []string{"thumbprints are only for auth selfSigned"}},
		{"dollar property", "", "devices:\n  - id: a\n    desired: {$version: 3}\n", []string{"desired: property names must not contain '$'"}},
		{"dotted tag key", "", "devices:\n  - id: a\n    tags: {a.b: 1}\n", []string{`invalid key "a.b" in tags`}},
		{"nested dollar in reported", "", "devices:\n  - id: a\n    reported: {x: {$y: 1}}\n", []string{`invalid key "$y" in properties.reported.x`}},
		{"too deep", "", "devices:\n  - id: a\n    desired: " + deep + "\n", []string{"nested more than 10 levels"}},
		{"long string", "", "devices:\n  - id: a\n    reported: {s: " + long + "}\n", []string{"must not exceed 4096 bytes"}},
		{"integer out of range", "", "devices:\n  - id: a\n    tags: {n: 9007199254740993}\n", []string{"outside the supported range"}},
		{"desired too large", "", big, []string{"properties.desired would be", "the limit is 32768 bytes"}},
		{"every problem listed", "", "devices:\n  - id: a b\n  - id: c\n    status: paused\n  - id: c\n    tags: {a.b: 1}\n",
			[]string{"4 problems", "line 2: devices[0]", "line 3: devices[1]", "line 5: devices[2]", `"a.b"`}},
		{"problems capped", "", lotsOfErrors, []string{"more than 20 problems", "line 21: devices[19]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Parse([]byte(tc.text), tc.format)
			if err == nil {
				t.Fatalf("Parse accepted it: %+v", d)
			}
			if d != nil {
				t.Error("Parse returned a document with its error")
			}
			if !errcode.Is(err, errcode.ArgumentInvalid) {
				t.Errorf("error %v is not ArgumentInvalid", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseTooLarge(t *testing.T) {
	_, err := Parse(make([]byte, MaxDocumentSize+1), "")
	if !errcode.Is(err, errcode.MessageTooLarge) {
		t.Fatalf("err = %v, want MessageTooLarge", err)
	}
}

// TestValidateLeavesDocumentAlone: Validate (and so Apply) works on a
// canonical copy and never rewrites the caller's document.
func TestValidateLeavesDocumentAlone(t *testing.T) {
	d := &Document{Devices: []Device{{ID: "d1", Status: "Disabled", Tags: Properties{"n": 1, "gone": nil}}}}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	if d.Devices[0].Status != "Disabled" || d.Devices[0].Tags["n"] != 1 || len(d.Devices[0].Tags) != 2 || d.Devices[0].Auth != "" {
		t.Fatalf("Validate changed the document: %+v", d.Devices[0])
	}
	bad := &Document{Devices: []Device{{ID: "d1", Tags: Properties{"ch": make(chan int)}}}}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "not a JSON value") {
		t.Fatalf("a Go value that is not JSON: %v", err)
	}
	var none *Document
	if err := none.Validate(); err == nil {
		t.Fatal("a nil document validated")
	}
}

// TestParseAliasBomb: nested aliases that would expand a small file into
// billions of values are refused quickly.
func TestParseAliasBomb(t *testing.T) {
	text := "x0: &x0 {a: 1, b: 2}\n"
	for i := 1; i <= 30; i++ {
		text += fmt.Sprintf("x%d: &x%d [*x%d, *x%d, *x%d]\n", i, i, i-1, i-1, i-1)
	}
	bomb := "devices:\n  - id: d1\n    tags: &bomb\n      a: &l0 [1, 2, 3, 4, 5, 6, 7, 8, 9]\n"
	for i := 1; i <= 12; i++ {
		bomb += fmt.Sprintf("      l%d: &l%d [*l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	for i := 2; i <= 1000; i++ {
		bomb += fmt.Sprintf("  - id: d%d\n    tags: *bomb\n", i)
	}
	for _, tc := range []struct{ name, text string }{{"top level", text}, {"in tags of many devices", bomb}} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := Parse([]byte(tc.text), "yaml")
			if err == nil || !strings.Contains(err.Error(), "aliases expand it") {
				t.Fatalf("err = %v", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}
}
