package main

import (
	"testing"

	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
)

func TestConfigurationVerbs(t *testing.T) {
	e := startEmulator(t)
	createDevice(t, e, "dev")
	hubCLI(t, e, "device-twin", "update", "-d", "dev", "--tags", `{"site":"a"}`).ok(t)

	var cfg map[string]any
	hubCLI(t, e, "configuration", "create", "--config-id", "cfg1",
		"--content", `{"content":{"deviceContent":{"properties.desired.settings":{"rate":2}}}}`,
		"--target-condition", "tags.site = 'a'", "--priority", "3", "--labels", `{"team":"x"}`,
		"--metrics", `{"metrics":{"queries":{"all":"SELECT deviceId FROM devices"}}}`).ok(t).json(t, &cfg)
	if cfg["id"] != "cfg1" || cfg["priority"] != 3.0 || cfg["labels"].(map[string]any)["team"] != "x" {
		t.Fatalf("created %v", cfg)
	}
	testkit.Eventually(t, "the configuration is applied", func() bool {
		var tw map[string]any
		hubCLI(t, e, "device-twin", "show", "-d", "dev").ok(t).json(t, &tw)
		s, _ := tw["properties"].(map[string]any)["desired"].(map[string]any)["settings"].(map[string]any)
		return s["rate"] == 2.0
	})
	hubCLI(t, e, "configuration", "show", "-c", "cfg1").ok(t).json(t, &cfg)
	if cfg["metrics"].(map[string]any)["queries"].(map[string]any)["all"] == nil {
		t.Fatalf("shown %v", cfg)
	}
	var list []map[string]any
	hubCLI(t, e, "configuration", "list", "--top", "1").ok(t).json(t, &list)
	if len(list) != 1 || list[0]["id"] != "cfg1" {
		t.Fatalf("list %v", list)
	}
	hubCLI(t, e, "configuration", "delete", "-c", "cfg1").ok(t)
	hubCLI(t, e, "configuration", "list").ok(t).json(t, &list)
	if len(list) != 0 {
		t.Fatalf("list after delete %v", list)
	}
}
