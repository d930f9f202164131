package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// answerMethods makes d answer every direct method with status 200 and
// {"method": name, "got": payload}, or status 500 for a method named "fail".
func answerMethods(d *mqttDevice) {
	d.subscribe("$iothub/methods/POST/#", func(c paho.Client, m paho.Message) {
		parts := strings.Split(m.Topic(), "/") // $iothub/methods/POST/{name}/?$rid={rid}
		if len(parts) < 5 {
			return
		}
		rid := strings.TrimPrefix(parts[4], "?$rid=")
		status := 200
		if parts[3] == "fail" {
			status = 500
		}
		c.Publish(fmt.Sprintf("$iothub/methods/res/%d/?$rid=%s", status, rid), 0, false,
			fmt.Sprintf(`{"method":%q,"got":%s}`, parts[3], m.Payload()))
	})
}

func TestInvokeMethods(t *testing.T) {
	e := startEmulator(t)
	key := createDevice(t, e, "dev")
	var mod map[string]any
	hubCLI(t, e, "module-identity", "create", "-d", "dev", "-m", "mod").ok(t).json(t, &mod)
	modKey := mod["authentication"].(map[string]any)["symmetricKey"].(map[string]any)["primaryKey"].(string)
	payloadFile := filepath.Join(t.TempDir(), "payload.json")
	os.WriteFile(payloadFile, []byte(`{"from":"file"}`), 0o644)

	// Before any device listens: the hub says so, without waiting (--mct 0).
	hubCLI(t, e, "invoke-device-method", "-d", "dev", "--mn", "reboot", "--mct", "0").failed(t, "DeviceNotOnline")
	hubCLI(t, e, "invoke-device-method", "-d", "ghost", "--mn", "reboot").failed(t, "DeviceNotFound")
	hubCLI(t, e, "invoke-module-method", "-d", "dev", "-m", "ghost", "--mn", "reboot").failed(t, "ModuleNotFound")

	answerMethods(dialDevice(t, e, "dev", "", key))
	answerMethods(dialDevice(t, e, "dev", "mod", modKey))

	tests := []struct {
		name       string
		args       []string
		wantStatus int
		wantGot    string // the payload the device received, as JSON
		wantMethod string
	}{
		{"default payload", []string{"invoke-device-method", "-d", "dev", "--method-name", "reboot"}, 200, `{}`, "reboot"},
		{"payload and timeout", []string{"invoke-device-method", "-d", "dev", "--mn", "set", "--mp", `{"delay":5}`, "--to", "5"}, 200, `{"delay":5}`, "set"},
		{"payload from a file", []string{"invoke-device-method", "-d", "dev", "--mn", "set", "--method-payload", payloadFile}, 200, `{"from":"file"}`, "set"},
		{"scalar payload", []string{"invoke-device-method", "-d", "dev", "--mn", "set", "--mp", `7`}, 200, `7`, "set"},
		{"device status passes through", []string{"invoke-device-method", "-d", "dev", "--mn", "fail"}, 500, `{}`, "fail"},
		{"module", []string{"invoke-module-method", "-d", "dev", "-m", "mod", "--mn", "ping", "--mp", `{"n":1}`}, 200, `{"n":1}`, "ping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := hubCLI(t, e, tt.args...).ok(t)
			var res struct {
				Status  int `json:"status"`
				Payload struct {
					Method string          `json:"method"`
					Got    json.RawMessage `json:"got"`
				} `json:"payload"`
			}
			r.json(t, &res)
			var got bytes.Buffer
			json.Compact(&got, res.Payload.Got)
			if res.Status != tt.wantStatus || res.Payload.Method != tt.wantMethod || got.String() != tt.wantGot {
				t.Fatalf("result %s", r.stdout)
			}
			if !strings.HasPrefix(r.stdout, "{\n  \"status\": ") {
				t.Fatalf("not az's shape:\n%s", r.stdout)
			}
		})
	}
}

func TestInvokeMethodTimesOutWithGatewayTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("waits the shortest method timeout IoT Hub allows (5 s)")
	}
	e := startEmulator(t)
	key := createDevice(t, e, "mute")
	d := dialDevice(t, e, "mute", "", key)
	d.subscribe("$iothub/methods/POST/#", func(paho.Client, paho.Message) {}) // never answers
	start := time.Now()
	hubCLI(t, e, "invoke-device-method", "-d", "mute", "--mn", "x", "--timeout", "5", "--mct", "0").failed(t, "GatewayTimeout")
	if took := time.Since(start); took < 4*time.Second || took > 15*time.Second {
		t.Fatalf("gave up after %s, want about 5 s", took)
	}
}
