package api

import (
	"encoding/json"
	"fmt"
	"github.com/iothub-emulator/iothub-emulator/internal/hubtest"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/hub"
	"github.com/iothub-emulator/iothub-emulator/sas"
)

type fixture struct {
	t     *testing.T
	srv   *httptest.Server
	hub   *hub.Hub
	token string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	h := hubtest.Open(t, hub.Options{})
	srv := httptest.NewServer(New(h, Options{}))
	t.Cleanup(srv.Close)
	p, _ := h.Policies().Find("iothubowner")
	tok, err := sas.NewToken("localhost", p.PrimaryKey, p.Name, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, srv: srv, hub: h, token: tok}
}

type response struct {
	status int
	header http.Header
	body   string
}

func (f *fixture) do(method, path, body string, headers ...string) response {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Authorization", f.token)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(b)}
}

// wantError checks IoT Hub's REST error format: status, the header the C#
// SDK cross-checks, and the Message the Node SDK splits on ';'.
func wantError(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d (body %s)", r.status, status, r.body)
	}
	if r.header.Get("iothub-errorcode") != code {
		t.Fatalf("iothub-errorcode %q, want %q", r.header.Get("iothub-errorcode"), code)
	}
	var body struct{ Message, ExceptionMessage string }
	if err := json.Unmarshal([]byte(r.body), &body); err != nil {
		t.Fatalf("error body %q: %v", r.body, err)
	}
	if !strings.HasPrefix(body.Message, "ErrorCode:"+code+";") || !strings.HasPrefix(body.ExceptionMessage, "Tracking ID:") {
		t.Fatalf("error body = %s", r.body)
	}
	if !strings.Contains(r.header.Get("Content-Type"), "application/json") {
		t.Fatalf("content-type %q", r.header.Get("Content-Type"))
	}
}

func TestDevicesAndErrors(t *testing.T) {
	f := newFixture(t)
	r := f.do("PUT", "/devices/dev%231?api-version=2021-04-12", `{"deviceId":"dev#1"}`)
	if r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var d map[string]any
	json.Unmarshal([]byte(r.body), &d)
	if d["deviceId"] != "dev#1" || d["connectionState"] != "Disconnected" || d["statusReason"] != nil {
		t.Fatalf("device = %s", r.body)
	}
	wantError(t, f.do("PUT", "/devices/dev%231", `{"deviceId":"dev#1"}`), 409, "DeviceAlreadyExists")
	wantError(t, f.do("GET", "/devices/nope", ""), 404, "DeviceNotFound")
	wantError(t, f.do("PUT", "/devices/dev%231", `{"deviceId":"dev#1","status":"disabled"}`, "If-Match", `"wrong"`), 412, "PreconditionFailed")
	wantError(t, f.do("PUT", "/devices/x", `{not json`), 400, "ArgumentInvalid")
	wantError(t, f.do("PUT", "/devices/"+strings.Repeat("a", 129), `{}`), 400, "ArgumentInvalid")
	wantError(t, f.do("PUT", "/devices/big", `{"deviceId":"`+strings.Repeat("a", maxBody)+`"}`), 413, "MessageTooLarge")
	wantError(t, f.do("GET", "/nothing/here", ""), 404, "IotHubNotFound")

	for _, path := range []string{"/devices", "/devices/", "/devices/?top=5", "/devices?top=1"} {
		r := f.do("GET", path, "")
		var list []map[string]any
		if r.status != 200 || json.Unmarshal([]byte(r.body), &list) != nil || len(list) != 1 {
			t.Fatalf("GET %s: %d %s", path, r.status, r.body)
		}
	}
	r = f.do("GET", "/statistics/devices", "")
	if r.body != `{"totalDeviceCount":1,"enabledDeviceCount":1,"disabledDeviceCount":0}` {
		t.Fatalf("statistics: %s", r.body)
	}
	r = f.do("GET", "/statistics/service", "")
	if r.body != `{"connectedDeviceCount":0}` {
		t.Fatalf("service statistics: %s", r.body)
	}
	if r := f.do("DELETE", "/devices/dev%231", "", "If-Match", `"*"`); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	wantError(t, f.do("DELETE", "/devices/dev%231", ""), 404, "DeviceNotFound")
}

func TestAuthIsRequired(t *testing.T) {
	f := newFixture(t)
	f.token = ""
	wantError(t, f.do("GET", "/devices", ""), 401, "IotHubUnauthorized")
	f.token = "SharedAccessSignature sr=localhost&sig=AAAA&se=1&skn=iothubowner"
	wantError(t, f.do("GET", "/devices", ""), 401, "IotHubUnauthorized")
	// Health needs no auth.
	if r := f.do("GET", "/healthz", ""); r.status != 200 {
		t.Fatalf("healthz: %d", r.status)
	}
}

func TestTwinsOverREST(t *testing.T) {
	f := newFixture(t)
	f.do("PUT", "/devices/d1", `{}`)
	r := f.do("GET", "/twins/d1", "")
	var tw map[string]any
	if r.status != 200 || json.Unmarshal([]byte(r.body), &tw) != nil {
		t.Fatalf("get twin: %d %s", r.status, r.body)
	}
	etag := tw["etag"].(string)
	wantError(t, f.do("PATCH", "/twins/d1", `{"tags":{"a":1}}`, "If-Match", `"AAAAAAAAAAA="`), 412, "PreconditionFailed")
	r = f.do("PATCH", "/twins/d1", `{"tags":{"location":{"plant":"Redmond43"}}}`, "If-Match", `"`+etag+`"`)
	if r.status != 200 || !strings.Contains(r.body, "Redmond43") {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	r = f.do("PUT", "/twins/d1", `{"tags":{"only":"this"},"properties":{"desired":{"x":1}}}`, "If-Match", "*")
	if r.status != 200 || strings.Contains(r.body, "Redmond43") || !strings.Contains(r.body, `"only":"this"`) {
		t.Fatalf("replace: %d %s", r.status, r.body)
	}
	wantError(t, f.do("PATCH", "/twins/d1", `{"tags":{"a b":1}}`), 400, "ArgumentInvalid")
	wantError(t, f.do("PATCH", "/twins/ghost", `{"tags":{}}`), 404, "DeviceNotFound")
}

func TestQueryPagingHeaders(t *testing.T) {
	f := newFixture(t)
	for i := range 5 {
		f.do("PUT", fmt.Sprintf("/devices/q%d", i), `{}`)
	}
	seen := map[string]bool{}
	token := ""
	for page := 0; page < 10; page++ {
		headers := []string{"x-ms-max-item-count", "2"}
		if token != "" {
			headers = append(headers, "x-ms-continuation", token)
		}
		r := f.do("POST", "/devices/query", `{"query":"SELECT * FROM devices"}`, headers...)
		if r.status != 200 || r.header.Get("x-ms-item-type") != "Twin" {
			t.Fatalf("query: %d %v %s", r.status, r.header, r.body)
		}
		var items []map[string]any
		json.Unmarshal([]byte(r.body), &items)
		for _, it := range items {
			id := it["deviceId"].(string)
			if seen[id] {
				t.Fatalf("%s returned twice", id)
			}
			seen[id] = true
		}
		_, present := r.header["X-Ms-Continuation"]
		token = r.header.Get("x-ms-continuation")
		if !present {
			break
		}
		if token == "" {
			t.Fatal("continuation header present but empty: the Node SDK would loop")
		}
	}
	if len(seen) != 5 || token != "" {
		t.Fatalf("paged through %d devices, last token %q", len(seen), token)
	}
	r := f.do("POST", "/devices/query", `{"query":"SELECT deviceId FROM devices WHERE deviceId = 'q3'"}`)
	if r.body != `[{"deviceId":"q3"}]` || r.header.Get("x-ms-item-type") != "Raw" {
		t.Fatalf("projection: %s %v", r.body, r.header)
	}
	r = f.do("POST", "/devices/query", `{"query":"SELECT * FROM devices WHERE tags.none = 'x'"}`)
	if r.body != `[]` {
		t.Fatalf("empty result: %s", r.body)
	}
	wantError(t, f.do("POST", "/devices/query", `{"query":"SELECT * FROM"}`), 400, "ArgumentInvalid")
	wantError(t, f.do("POST", "/devices/query", `{}`), 400, "ArgumentNull")
	wantError(t, f.do("POST", "/devices/query", `{"query":"SELECT * FROM devices"}`, "x-ms-max-item-count", "lots"), 400, "ArgumentInvalid")
}

func TestModulesOverREST(t *testing.T) {
	f := newFixture(t)
	wantError(t, f.do("PUT", "/devices/d1/modules/m1", `{}`), 404, "DeviceNotFound")
	f.do("PUT", "/devices/d1", `{}`)
	r := f.do("PUT", "/devices/d1/modules/m1", `{"moduleId":"m1","deviceId":"d1"}`)
	if r.status != 200 || !strings.Contains(r.body, `"moduleId":"m1"`) || !strings.Contains(r.body, `"primaryKey"`) {
		t.Fatalf("create module: %d %s", r.status, r.body)
	}
	wantError(t, f.do("PUT", "/devices/d1/modules/m1", `{}`), 409, "ModuleAlreadyExistsOnDevice")
	wantError(t, f.do("GET", "/devices/d1/modules/nope", ""), 404, "ModuleNotFound")
	for _, path := range []string{"/devices/d1/modules", "/devices/d1/modules/"} {
		if r := f.do("GET", path, ""); r.status != 200 || !strings.HasPrefix(r.body, `[{"moduleId":"m1"`) {
			t.Fatalf("GET %s: %d %s", path, r.status, r.body)
		}
	}
	r = f.do("PATCH", "/twins/d1/modules/m1", `{"tags":{"role":"scanner"}}`, "If-Match", `"*"`)
	if r.status != 200 || !strings.Contains(r.body, `"moduleId":"m1"`) || !strings.Contains(r.body, "scanner") {
		t.Fatalf("patch module twin: %d %s", r.status, r.body)
	}
	r = f.do("POST", "/devices/query", `{"query":"SELECT * FROM devices.modules WHERE tags.role = 'scanner'"}`)
	if r.status != 200 || !strings.Contains(r.body, `"moduleId":"m1"`) {
		t.Fatalf("module query: %s", r.body)
	}
	if r := f.do("DELETE", "/devices/d1/modules/m1", "", "If-Match", `"*"`); r.status != 204 {
		t.Fatalf("delete module: %d %s", r.status, r.body)
	}
	wantError(t, f.do("GET", "/twins/d1/modules/m1", ""), 404, "ModuleNotFound")
}

func TestStrictAPIVersion(t *testing.T) {
	h := hubtest.Open(t, hub.Options{})
	srv := httptest.NewServer(New(h, Options{Strict: true}))
	defer srv.Close()
	f := newFixture(t)
	f.srv = srv
	wantError(t, f.do("GET", "/devices", ""), 400, "InvalidProtocolVersion")
	wantError(t, f.do("GET", "/devices?api-version=2099-01-01", ""), 400, "InvalidProtocolVersion")
	if r := f.do("GET", "/devices?api-version=2021-04-12", ""); r.status != 200 {
		t.Fatalf("known version refused: %d %s", r.status, r.body)
	}
	if r := f.do("GET", "/healthz", ""); r.status != 200 {
		t.Fatalf("healthz under strict: %d", r.status)
	}
}
