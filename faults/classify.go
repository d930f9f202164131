package faults

import (
	"net/http"
	"strings"
)

// Classify maps a request of IoT Hub's service REST API (and the emulator's
// cloud-to-device send endpoint) to its throttled operation class. It reads
// the method and the escaped path only, so it works before routing, and
// treats a trailing slash like none. Anything else (health, statistics,
// purge, feedback, the emulator's own endpoints, WebSocket upgrades) is not
// classified.
func Classify(r *http.Request) (Operation, bool) {
	seg := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/")
	if n := len(seg); n > 1 && seg[n-1] == "" {
		seg = seg[:n-1]
	}
	switch seg[0] {
	case "devices":
		return classifyDevices(r.Method, seg[1:])
	case "twins":
		return classifyTwins(r.Method, seg[1:])
	case "jobs":
		return JobsOperations, true
	case "configurations":
		return Configurations, true
	case "emulator":
		// POST /emulator/devices/{id}/messages/devicebound sends C2D.
		if len(seg) == 5 && seg[1] == "devices" && seg[3] == "messages" && seg[4] == "devicebound" && r.Method == http.MethodPost {
			return C2DSends, true
		}
	}
	return "", false
}

// classifyDevices handles what follows /devices.
func classifyDevices(method string, seg []string) (Operation, bool) {
	switch {
	case len(seg) == 0: // list, bulk
		return RegistryOperations, true
	case len(seg) == 1 && seg[0] == "query" && method == http.MethodPost:
		return Queries, true
	case len(seg) == 1: // one identity
		return RegistryOperations, true
	case seg[1] == "modules" && len(seg) <= 3: // modules of a device, one module
		return RegistryOperations, true
	}
	return "", false
}

// classifyTwins handles what follows /twins: {id}[/modules/{mid}][/methods].
func classifyTwins(method string, seg []string) (Operation, bool) {
	switch {
	case len(seg) == 0:
		return "", false
	case len(seg) == 1 || (len(seg) == 3 && seg[1] == "modules"):
		switch method {
		case http.MethodGet:
			return TwinReads, true
		case http.MethodPatch, http.MethodPut:
			return TwinUpdates, true
		}
	case seg[len(seg)-1] == "methods" && (len(seg) == 2 || (len(seg) == 4 && seg[1] == "modules")) && method == http.MethodPost:
		return DirectMethods, true
	}
	return "", false
}
