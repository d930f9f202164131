package api

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/hub"
	"github.com/iothub-emulator/iothub-emulator/internal/hubtest"
)

// commandDevice answers direct methods as a Plug and Play device would,
// recording the calls: "timeout" times out, anything else echoes the
// payload with status 201.
type commandDevice struct {
	mu    sync.Mutex
	calls []string
	resp  []time.Duration
}

func (c *commandDevice) InvokeMethod(_ context.Context, deviceID, _ string, name string, payload []byte, _, response time.Duration) (int, []byte, error) {
	c.mu.Lock()
	c.calls = append(c.calls, deviceID+" "+name+" "+string(payload))
	c.resp = append(c.resp, response)
	c.mu.Unlock()
	if name == "timeout" {
		return 0, nil, errcode.New(errcode.GatewayTimeout, "timed out")
	}
	return 201, payload, nil
}

func newDTFixture(t *testing.T) (*fixture, *hubtest.Devices) {
	t.Helper()
	devs := hubtest.NewDevices()
	h := hubtest.Open(t, hub.Options{Devices: devs})
	f := newFixture(t)
	srv := httptest.NewServer(New(h, Options{}))
	t.Cleanup(srv.Close)
	f.srv, f.hub = srv, h
	if r := f.do("PUT", "/devices/pnp", `{"deviceId":"pnp"}`); r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	return f, devs
}

func TestDigitalTwinGetAndPatch(t *testing.T) {
	f, _ := newDTFixture(t)
	ctx := context.Background()
	f.hub.SetConnected(ctx, "pnp", "", true, "dtmi:com:example:TemperatureController;1")
	if _, err := f.hub.PatchReported(ctx, "pnp", "", []byte(`{"serialNumber":"SN1","thermostat1":{"__t":"c","maxTempSinceLastReboot":30}}`)); err != nil {
		t.Fatal(err)
	}

	r := f.do("GET", "/digitaltwins/pnp?api-version=2021-04-12", "")
	if r.status != 200 || r.header.Get("ETag") == "" {
		t.Fatalf("GET: %d %v %s", r.status, r.header, r.body)
	}
	var dt map[string]any
	json.Unmarshal([]byte(r.body), &dt)
	meta, _ := dt["$metadata"].(map[string]any)
	comp, _ := dt["thermostat1"].(map[string]any)
	if dt["$dtId"] != "pnp" || meta["$model"] != "dtmi:com:example:TemperatureController;1" || dt["serialNumber"] != "SN1" ||
		comp["maxTempSinceLastReboot"] != 30.0 || comp["$metadata"] == nil {
		t.Fatalf("digital twin = %s", r.body)
	}

	r = f.do("PATCH", "/digitaltwins/pnp", `[{"op":"add","path":"/thermostat1/targetTemperature","value":42},{"op":"add","path":"/interval","value":5}]`,
		"If-Match", r.header.Get("ETag"))
	if r.status != 202 || r.header.Get("ETag") == "" || r.body != "" {
		t.Fatalf("PATCH: %d %v %q", r.status, r.header, r.body)
	}
	tw, _ := f.hub.GetTwin(ctx, "pnp", "")
	desired := tw["properties"].(map[string]any)["desired"].(map[string]any)
	if th, _ := desired["thermostat1"].(map[string]any); th["targetTemperature"] != 42.0 || th["__t"] != "c" || desired["interval"] != 5.0 {
		t.Fatalf("desired after PATCH = %v", desired)
	}
	r = f.do("GET", "/digitaltwins/pnp", "")
	json.Unmarshal([]byte(r.body), &dt)
	tm := dt["thermostat1"].(map[string]any)["$metadata"].(map[string]any)["targetTemperature"].(map[string]any)
	if tm["desiredValue"] != 42.0 || tm["desiredVersion"] != 2.0 {
		t.Fatalf("component metadata = %v", tm)
	}

	// Refused patches change nothing.
	version := tw["version"]
	for _, bad := range []struct {
		body, ifMatch string
		status        int
		code          string
	}{
		{`[{"op":"replace","path":"/missing","value":1}]`, "", 400, "ArgumentInvalid"},
		{`[{"op":"copy","from":"/interval","path":"/x"}]`, "", 400, "ArgumentInvalid"},
		{`{"interval":1}`, "", 400, "ArgumentInvalid"},
		{`[{"op":"add","path":"/interval","value":1}]`, `"stale"`, 412, "PreconditionFailed"},
		{`[{"op":"add","path":"/bad$key","value":{"$x":1}}]`, "", 400, "ArgumentInvalid"},
	} {
		wantError(t, f.do("PATCH", "/digitaltwins/pnp", bad.body, "If-Match", bad.ifMatch), bad.status, bad.code)
	}
	if tw, _ := f.hub.GetTwin(ctx, "pnp", ""); tw["version"] != version {
		t.Fatalf("a refused patch changed the twin: version %v, was %v", tw["version"], version)
	}
	wantError(t, f.do("GET", "/digitaltwins/nope", ""), 404, "DeviceNotFound")
	wantError(t, f.do("PATCH", "/digitaltwins/nope", `[{"op":"add","path":"/a","value":1}]`), 404, "DeviceNotFound")
}

func TestDigitalTwinCommands(t *testing.T) {
	f, devs := newDTFixture(t)
	wantError(t, f.do("POST", "/digitaltwins/pnp/commands/reboot", `{"delay":1}`), 404, "DeviceNotOnline")

	dev := &commandDevice{}
	devs.SetInvoker(dev)
	tests := []struct {
		name, path, body, call string
		resp                   time.Duration
	}{
		{"root command", "/digitaltwins/pnp/commands/reboot?responseTimeoutInSeconds=7", `{"delay":1}`, `pnp reboot {"delay":1}`, 7 * time.Second},
		{"component command", "/digitaltwins/pnp/components/thermostat1/commands/getMaxMinReport?connectTimeoutInSeconds=0",
			`"2026-03-01T00:00:00Z"`, `pnp thermostat1*getMaxMinReport "2026-03-01T00:00:00Z"`, 30 * time.Second},
		{"no payload", "/digitaltwins/pnp/commands/ping", ``, `pnp ping null`, 30 * time.Second},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.do("POST", tt.path, tt.body)
			if r.status != 200 || r.header.Get("x-ms-command-statuscode") != "201" || r.header.Get("x-ms-request-id") == "" {
				t.Fatalf("%d %v %s", r.status, r.header, r.body)
			}
			dev.mu.Lock()
			call, resp := dev.calls[i], dev.resp[i]
			dev.mu.Unlock()
			if call != tt.call || resp != tt.resp {
				t.Fatalf("device got %q (response timeout %v), want %q (%v)", call, resp, tt.call, tt.resp)
			}
			want := tt.body
			if want == "" {
				want = "null"
			}
			if r.body != want {
				t.Fatalf("body %s, want %s", r.body, want)
			}
		})
	}
	n := len(tests)
	wantError(t, f.do("POST", "/digitaltwins/pnp/commands/timeout", `{}`), 504, "GatewayTimeout")
	n++
	for _, path := range []string{
		"/digitaltwins/pnp/commands/reboot?responseTimeoutInSeconds=abc",
		"/digitaltwins/pnp/commands/reboot?responseTimeoutInSeconds=1",
		"/digitaltwins/pnp/commands/reboot?connectTimeoutInSeconds=-1",
	} {
		wantError(t, f.do("POST", path, `{}`), 400, "ArgumentInvalid")
	}
	wantError(t, f.do("POST", "/digitaltwins/pnp/commands/reboot", `{not json`), 400, "ArgumentInvalid")
	wantError(t, f.do("POST", "/digitaltwins/nope/commands/reboot", `{}`), 404, "DeviceNotFound")
	dev.mu.Lock()
	defer dev.mu.Unlock()
	if len(dev.calls) != n {
		t.Fatalf("refused commands reached the device: %v", dev.calls)
	}
}
