package main

import (
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
)

func TestJobVerbs(t *testing.T) {
	e := startEmulator(t)
	createDevice(t, e, "dev")

	var job map[string]any
	hubCLI(t, e, "job", "create", "--job-id", "tw", "--job-type", "scheduleupdatetwin", "-q", "deviceId = 'dev'",
		"--twin-patch", `{"tags":{"site":"a"}}`).ok(t).json(t, &job)
	if job["jobId"] != "tw" || job["type"] != "scheduleUpdateTwin" {
		t.Fatalf("created %v", job)
	}
	testkit.Eventually(t, "the twin job completes", func() bool {
		var j map[string]any
		hubCLI(t, e, "job", "show", "--job-id", "tw").ok(t).json(t, &j)
		return j["status"] == "completed"
	})
	var tw map[string]any
	hubCLI(t, e, "device-twin", "show", "-d", "dev").ok(t).json(t, &tw)
	if tw["tags"].(map[string]any)["site"] != "a" {
		t.Fatalf("twin %v", tw)
	}

	later := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	hubCLI(t, e, "job", "create", "-j", "m", "--jt", "scheduleDeviceMethod", "-q", "deviceId = 'dev'",
		"--mn", "reboot", "--start-time", later).ok(t).json(t, &job)
	if job["status"] != "scheduled" {
		t.Fatalf("scheduled job %v", job)
	}
	hubCLI(t, e, "job", "cancel", "-j", "m").ok(t).json(t, &job)
	if job["status"] != "cancelled" {
		t.Fatalf("cancelled job %v", job)
	}
	var list []map[string]any
	hubCLI(t, e, "job", "list").ok(t).json(t, &list)
	if len(list) != 2 {
		t.Fatalf("list %v", list)
	}
	hubCLI(t, e, "job", "list", "--job-status", "cancelled").ok(t).json(t, &list)
	if len(list) != 1 || list[0]["jobId"] != "m" {
		t.Fatalf("cancelled list %v", list)
	}

	hubCLI(t, e, "job", "show", "-j", "ghost").failed(t, "JobNotFound")
	hubCLI(t, e, "job", "create", "-j", "x", "--jt", "scheduleUpdateTwin", "-q", "deviceId = 'dev'").usage(t, "--twin-patch")
	hubCLI(t, e, "job", "create", "-j", "x", "--jt", "export", "-q", "deviceId = 'dev'").usage(t, "--job-type")
	hubCLI(t, e, "job", "create", "-j", "x", "--jt", "scheduleDeviceMethod", "-q", "deviceId = 'dev'", "--mn", "m", "--mrt", "1").usage(t, "--method-response-timeout")
	hubCLI(t, e, "job", "list", "--job-status", "done").usage(t, "--job-status")
}
