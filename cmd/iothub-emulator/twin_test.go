package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// twinDoc is the part of a twin these tests look at.
type twinDoc struct {
	DeviceID   string         `json:"deviceId"`
	ModuleID   string         `json:"moduleId"`
	ETag       string         `json:"etag"`
	Tags       map[string]any `json:"tags"`
	Properties struct {
		Desired map[string]any `json:"desired"`
	} `json:"properties"`
}

func TestTwinShowUpdateReplace(t *testing.T) {
	e := startEmulator(t)
	createDevice(t, e, "dev")
	hubCLI(t, e, "module-identity", "create", "-d", "dev", "-m", "mod").ok(t)
	file := filepath.Join(t.TempDir(), "twin.json")
	if err := os.WriteFile(file, []byte(`{"tags":{"from":"file"},"properties":{"desired":{"mode":"eco"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, target := range []struct {
		name string
		ids  []string
	}{
		{"device-twin", []string{"-d", "dev"}},
		{"module-twin", []string{"-d", "dev", "-m", "mod"}},
	} {
		t.Run(target.name, func(t *testing.T) {
			twin := func(verb string, args ...string) twinDoc {
				t.Helper()
				var tw twinDoc
				hubCLI(t, e, append(append([]string{target.name, verb}, target.ids...), args...)...).ok(t).json(t, &tw)
				return tw
			}
			shown := twin("show")
			if shown.DeviceID != "dev" || (target.name == "module-twin") != (shown.ModuleID == "mod") {
				t.Fatalf("show: %+v", shown)
			}

			steps := []struct {
				name  string
				verb  string
				args  []string
				check func(tw twinDoc) bool
			}{
				{"desired merges", "update", []string{"--desired", `{"temp":21,"fan":{"speed":2}}`},
					func(tw twinDoc) bool { return tw.Properties.Desired["temp"] == 21.0 && len(tw.Tags) == 0 }},
				{"tags merge, desired kept", "update", []string{"--tags", `{"room":"101"}`},
					func(tw twinDoc) bool { return tw.Tags["room"] == "101" && tw.Properties.Desired["temp"] == 21.0 }},
				{"null deletes", "update", []string{"--desired", `{"temp":null}`, "--tags", `{"floor":1}`},
					func(tw twinDoc) bool {
						_, has := tw.Properties.Desired["temp"]
						return !has && tw.Tags["floor"] == 1.0 && tw.Tags["room"] == "101"
					}},
				{"replace from raw JSON", "replace", []string{"--json", `{"tags":{"only":"this"},"properties":{"desired":{"x":1}}}`},
					func(tw twinDoc) bool {
						return len(tw.Tags) == 1 && tw.Tags["only"] == "this" && tw.Properties.Desired["x"] == 1.0 && tw.Properties.Desired["fan"] == nil
					}},
				{"replace from a file", "replace", []string{"-j", file},
					func(tw twinDoc) bool { return tw.Tags["from"] == "file" && tw.Properties.Desired["mode"] == "eco" }},
			}
			for _, s := range steps {
				if tw := twin(s.verb, s.args...); !s.check(tw) {
					t.Fatalf("%s: %+v", s.name, tw)
				}
			}

			// Etags: a stale one is refused and changes nothing; the current one works.
			cur := twin("show")
			args := func(verb string, more ...string) []string {
				return append(append([]string{target.name, verb}, target.ids...), more...)
			}
			hubCLI(t, e, args("update", "--desired", `{"y":1}`, "--etag", "AAAAAAAAAAE=")...).failed(t, "PreconditionFailed")
			hubCLI(t, e, args("replace", "-j", `{"tags":{}}`, "-e", "AAAAAAAAAAE=")...).failed(t, "PreconditionFailed")
			if after := twin("show"); after.ETag != cur.ETag || after.Properties.Desired["y"] != nil {
				t.Fatalf("a refused update changed the twin: %+v", after)
			}
			if tw := twin("update", "--desired", `{"y":1}`, "--etag", cur.ETag); tw.Properties.Desired["y"] != 1.0 {
				t.Fatalf("update with the current etag: %+v", tw)
			}
			// The hub's own checks come back as one-line errors.
			hubCLI(t, e, args("update", "--desired", `{"bad key":1}`)...).failed(t, "ArgumentInvalid")
		})
	}
	hubCLI(t, e, "device-twin", "show", "-d", "ghost").failed(t, "DeviceNotFound")
	hubCLI(t, e, "module-twin", "show", "-d", "dev", "-m", "ghost").failed(t, "ModuleNotFound")
	hubCLI(t, e, "device-twin", "update", "-d", "ghost", "--tags", `{"a":1}`).failed(t, "DeviceNotFound")
}

func TestJSONArg(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	bad := filepath.Join(dir, "bad.json")
	arr := filepath.Join(dir, "array.json")
	os.WriteFile(good, []byte("{\n  \"a\": 1\n}\n"), 0o644)
	os.WriteFile(bad, []byte("{nope"), 0o644)
	os.WriteFile(arr, []byte("[1, 2]"), 0o644)
	tests := []struct {
		value      string
		wantObject bool
		want       string // compact JSON, or "" for a usage error
		errHas     string
	}{
		{`{"a": 1}`, true, `{"a":1}`, ""},
		{good, true, `{"a":1}`, ""},
		{arr, false, `[1,2]`, ""},
		{`"text"`, false, `"text"`, ""},
		{`42`, false, `42`, ""},
		{arr, true, "", "must be a JSON object"},
		{`[1]`, true, "", "must be a JSON object"},
		{bad, true, "", "in file " + bad},
		{`{nope`, true, "", "not valid JSON"},
		{"no-such-file.json", true, "", "no file of that name"},
		{"", false, "", "not valid JSON"},
	}
	for _, tt := range tests {
		got, err := jsonArg("cmd", "--opt", tt.value, tt.wantObject)
		if tt.want != "" {
			if err != nil || string(got) != tt.want {
				t.Errorf("jsonArg(%q) = %s, %v; want %s", tt.value, got, err, tt.want)
			}
			continue
		}
		var ue *usageError
		if err == nil || !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.errHas) {
			t.Errorf("jsonArg(%q) error %v; want a usage error containing %q", tt.value, err, tt.errHas)
		}
	}
}
