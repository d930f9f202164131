package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDeviceIdentityCreateDevicesFile(t *testing.T) {
	e := startEmulator(t)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	// 150 devices: two requests; deviceId stands for id, create is the default mode.
	items := make([]string, 150)
	for i := range items {
		items[i] = fmt.Sprintf(`{"deviceId":"bulk%d","status":"disabled"}`, i)
	}
	var res struct {
		IsSuccessful bool
		Errors       []struct{ DeviceID, ErrorCode string }
	}
	hubCLI(t, e, "device-identity", "create", "--devices-file", write("many.json", "["+strings.Join(items, ",")+"]")).ok(t).json(t, &res)
	if !res.IsSuccessful || len(res.Errors) != 0 {
		t.Fatalf("result %+v", res)
	}
	var d map[string]any
	hubCLI(t, e, "device-identity", "show", "-d", "bulk149").ok(t).json(t, &d)
	if d["status"] != "disabled" {
		t.Fatalf("bulk149 = %v", d)
	}

	// A partial failure prints the result and exits 1.
	r := hubCLI(t, e, "device-identity", "create", "--devices-file", write("some.json", `[{"id":"bulk0","importMode":"create"},{"id":"fresh"},{"id":"bulk1","importMode":"delete"}]`))
	if r.code != 1 || !strings.Contains(r.stderr, "BulkRegistryOperationFailure") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	r.json(t, &res)
	if res.IsSuccessful || len(res.Errors) != 1 || res.Errors[0].DeviceID != "bulk0" || res.Errors[0].ErrorCode != "DeviceAlreadyExists" {
		t.Fatalf("result %+v", res)
	}
	hubCLI(t, e, "device-identity", "show", "-d", "fresh").ok(t)
	hubCLI(t, e, "device-identity", "show", "-d", "bulk1").failed(t, "DeviceNotFound")

	// Refused whole by the hub: nothing written.
	hubCLI(t, e, "device-identity", "create", "--devices-file", write("dup.json", `[{"id":"x"},{"id":"x"}]`)).failed(t, "DeviceDefinedMultipleTimes")
	hubCLI(t, e, "device-identity", "show", "-d", "x").failed(t, "DeviceNotFound")

	// Usage errors.
	hubCLI(t, e, "device-identity", "create", "--devices-file", write("obj.json", `{"id":"x"}`)).usage(t, "not a JSON array")
	hubCLI(t, e, "device-identity", "create", "--devices-file", write("noid.json", `[{"status":"enabled"}]`)).usage(t, "item 0 has no id")
	hubCLI(t, e, "device-identity", "create", "--devices-file", filepath.Join(dir, "missing.json")).usage(t, "cannot read --devices-file")
	hubCLI(t, e, "device-identity", "create", "-d", "y", "--devices-file", write("one.json", `[{"id":"y"}]`)).usage(t, "not both")
}
