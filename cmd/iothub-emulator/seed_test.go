package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSeedFormat(t *testing.T) {
	for path, want := range map[string]string{"hub.json": "json", "HUB.YAML": "yaml", "a/b.yml": "yaml", "hub.txt": "", "": "", "json": ""} {
		if got := seedFormat(path); got != want {
			t.Errorf("seedFormat(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hub.yaml")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(path, []byte("new")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "new" {
		t.Fatalf("file holds %q", b)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("left behind: %v", entries)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v: the document holds keys", st.Mode())
	}
	if err := writeFileAtomic(filepath.Join(dir, "missing", "x.yaml"), []byte("x")); err == nil {
		t.Fatal("wrote into a directory that does not exist")
	}
}

func TestExportImportRoundTrip(t *testing.T) {
	src := startEmulator(t)
	createDevice(t, src, "thermostat", "--pk", testPrimaryKey, "--sk", testSecondaryKey)
	hubCLI(t, src, "device-twin", "update", "-d", "thermostat", "--tags", `{"room":"101"}`, "--desired", `{"target":21}`).ok(t)
	hubCLI(t, src, "module-identity", "create", "-d", "thermostat", "-m", "sensor", "--pk", testSecondaryKey, "--sk", testPrimaryKey).ok(t)

	dir := t.TempDir()
	yamlOut := hubCLI(t, src, "export").ok(t).stdout
	if !strings.Contains(yamlOut, "thermostat") || !strings.Contains(yamlOut, testPrimaryKey) || strings.HasPrefix(strings.TrimSpace(yamlOut), "{") {
		t.Fatalf("YAML export:\n%s", yamlOut)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(hubCLI(t, src, "export", "--format", "json").ok(t).stdout), &doc); err != nil {
		t.Fatalf("--format json: %v", err)
	}
	jsonFile := filepath.Join(dir, "hub.json")
	yamlFile := filepath.Join(dir, "hub.yml")
	if r := hubCLI(t, src, "export", "--file", jsonFile).ok(t); r.stdout != "" {
		t.Fatalf("export --file printed %q", r.stdout)
	}
	hubCLI(t, src, "export", "-f", yamlFile).ok(t)
	if b, _ := os.ReadFile(jsonFile); !json.Valid(b) {
		t.Fatalf("%s is not JSON (the extension picks the format)", jsonFile)
	}
	sniffed := filepath.Join(dir, "hub.seed")
	if b, err := os.ReadFile(yamlFile); err != nil || string(b) != yamlOut {
		t.Fatalf("%s differs from stdout's export: %v", yamlFile, err)
	} else {
		os.WriteFile(sniffed, b, 0o644)
	}

	for _, file := range []string{jsonFile, yamlFile, sniffed} {
		t.Run(filepath.Base(file), func(t *testing.T) {
			dst := startEmulator(t)
			r := hubCLI(t, dst, "import", "--file", file).ok(t)
			if !json.Valid([]byte(r.stdout)) {
				t.Fatalf("import printed %q", r.stdout)
			}
			var cs map[string]string
			hubCLI(t, dst, "module-identity", "connection-string", "show", "-d", "thermostat", "-m", "sensor").ok(t).json(t, &cs)
			if !strings.HasSuffix(cs["connectionString"], "SharedAccessKey="+testSecondaryKey) {
				t.Fatalf("module key not carried over: %v", cs)
			}
			var tw twinDoc
			hubCLI(t, dst, "device-twin", "show", "-d", "thermostat").ok(t).json(t, &tw)
			if tw.Tags["room"] != "101" || tw.Properties.Desired["target"] != 21.0 {
				t.Fatalf("twin not carried over: %+v", tw)
			}
			// Importing again changes nothing that export shows.
			hubCLI(t, dst, "import", "--file", file).ok(t)
			if again := hubCLI(t, dst, "export").ok(t).stdout; again != yamlOut {
				t.Fatalf("export after import differs:\n%s\nwant\n%s", again, yamlOut)
			}
		})
	}

	// A bad document is refused and changes nothing.
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("devices:\n  - id: fresh\n    nonsense: true\n"), 0o644)
	hubCLI(t, src, "import", "--file", bad).failed(t, "ArgumentInvalid")
	hubCLI(t, src, "device-identity", "show", "-d", "fresh").failed(t, "DeviceNotFound")
}
