package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestImportExportVerbs(t *testing.T) {
	e := startEmulator(t)
	createDevice(t, e, "dev")

	var job map[string]any
	hubCLI(t, e, "device-identity", "export", "--container", "cli-exports", "--wait").ok(t).json(t, &job)
	if job["status"] != "completed" || job["excludeKeysInExport"] != true {
		t.Fatalf("export job %v", job)
	}
	uri := strings.TrimSpace(hubCLI(t, e, "storage", "sas", "--container", "cli-exports", "--permissions", "r").ok(t).stdout)
	base, q, _ := strings.Cut(uri, "?")
	resp, err := http.Get(base + "/devices.txt?" + q)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"id":"dev"`) || !strings.Contains(string(body), `"primaryKey":null`) {
		t.Fatalf("devices.txt through the printed SAS: %d %s", resp.StatusCode, body)
	}

	// The export imported again: the device stays, with new keys, since
	// they were exported as null.
	hubCLI(t, e, "device-identity", "import", "--container", "cli-exports", "--wait").ok(t).json(t, &job)
	if job["status"] != "completed" || job["type"] != "import" {
		t.Fatalf("import job %v", job)
	}

	hubCLI(t, e, "device-identity", "export", "--wait").usage(t, "--container")
	hubCLI(t, e, "device-identity", "import", "--container", "c", "--ibcu", "https://x/a/b").usage(t, "not both")
	hubCLI(t, e, "storage", "sas", "--container", "c", "--hours", "0").usage(t, "--hours")

	hubCLI(t, e, "device-identity", "create", "-d", "gw", "--edge-enabled").ok(t)
	deployment := `{"modulesContent":{"$edgeAgent":{"properties.desired":{"schemaVersion":"1.1"}}}}`
	hubCLI(t, e, "edge", "set-modules", "-d", "gw", "--content", deployment).ok(t)
	var tw map[string]any
	hubCLI(t, e, "module-twin", "show", "-d", "gw", "-m", "$edgeAgent").ok(t).json(t, &tw)
	if d := tw["properties"].(map[string]any)["desired"].(map[string]any); d["schemaVersion"] != "1.1" {
		t.Fatalf("$edgeAgent twin %v", tw)
	}
	hubCLI(t, e, "edge", "set-modules", "-d", "dev", "--content", deployment).failed(t, "ArgumentInvalid")
}
