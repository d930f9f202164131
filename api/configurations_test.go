package api

import (
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/iothub-emulator/iothub-emulator/configurations"
	"github.com/iothub-emulator/iothub-emulator/hub"
	"github.com/iothub-emulator/iothub-emulator/internal/hubtest"
	"github.com/iothub-emulator/iothub-emulator/internal/storetest"
)

func newConfigurationsFixture(t *testing.T) (*fixture, *configurations.Manager) {
	t.Helper()
	st := storetest.Temp(t)
	h := hubtest.Open(t, hub.Options{Store: st})
	m, err := configurations.Open(configurations.Options{Store: st, Hub: h, Manual: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	f := newFixture(t)
	srv := httptest.NewServer(New(h, Options{Configurations: m}))
	t.Cleanup(srv.Close)
	f.srv, f.hub = srv, h
	return f, m
}

func TestConfigurationsRoutes(t *testing.T) {
	f, m := newConfigurationsFixture(t)
	f.do("PUT", "/devices/d1", `{"deviceId":"d1"}`)
	f.do("PATCH", "/twins/d1", `{"tags":{"site":"a"}}`)
	body := `{"id":"cfg1","schemaVersion":"1.0","labels":{"team":"x"},
		"content":{"deviceContent":{"properties.desired.settings":{"rate":3}}},
		"targetCondition":"tags.site='a'","priority":2,
		"metrics":{"queries":{"all":"SELECT deviceId FROM devices"}}}`
	r := f.do("PUT", "/configurations/cfg1?api-version=2021-04-12", body)
	var c map[string]any
	if r.status != 200 || json.Unmarshal([]byte(r.body), &c) != nil || c["id"] != "cfg1" || c["etag"] == "" || c["createdTimeUtc"] == nil {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	etag := c["etag"].(string)

	tests := []struct {
		name, method, path, body string
		headers                  []string
		status                   int
		code                     string
	}{
		{"create existing", "PUT", "/configurations/cfg1", body, nil, 412, "PreconditionFailed"},
		{"stale etag", "PUT", "/configurations/cfg1", body, []string{"If-Match", `"stale"`}, 412, "PreconditionFailed"},
		{"content change", "PUT", "/configurations/cfg1", `{"content":{"deviceContent":{"properties.desired.other":1}}}`, []string{"If-Match", "*"}, 400, "ArgumentInvalid"},
		{"uppercase id", "PUT", "/configurations/Cfg2", body, nil, 400, "ArgumentInvalid"},
		{"bad condition", "PUT", "/configurations/cfg2", `{"content":{"deviceContent":{"properties.desired.x":1}},"targetCondition":"tags. ="}`, nil, 400, "ArgumentInvalid"},
		{"get missing", "GET", "/configurations/nope", "", nil, 404, "IotHubNotFound"},
		{"delete missing", "DELETE", "/configurations/nope", "", nil, 404, "IotHubNotFound"},
		{"delete stale", "DELETE", "/configurations/cfg1", "", []string{"If-Match", `"stale"`}, 412, "PreconditionFailed"},
		{"bad top", "GET", "/configurations?top=x", "", nil, 400, "ArgumentInvalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, f.do(tt.method, tt.path, tt.body, tt.headers...), tt.status, tt.code)
			if got := m.List(0); len(got) != 1 || got[0].Config.ETag != etag {
				t.Fatalf("a refused request changed the configurations: %+v", got)
			}
		})
	}

	if err := m.Reconcile(testContext(t)); err != nil {
		t.Fatal(err)
	}
	r = f.do("GET", "/twins/d1", "")
	var tw struct {
		Properties struct {
			Desired map[string]any `json:"desired"`
		} `json:"properties"`
	}
	if json.Unmarshal([]byte(r.body), &tw) != nil || tw.Properties.Desired["settings"].(map[string]any)["rate"] != 3.0 {
		t.Fatalf("twin after the sweep: %s", r.body)
	}
	r = f.do("GET", "/configurations/cfg1", "")
	var got struct {
		SystemMetrics struct {
			Results map[string]float64 `json:"results"`
		} `json:"systemMetrics"`
		Metrics struct {
			Results map[string]float64 `json:"results"`
		} `json:"metrics"`
	}
	if json.Unmarshal([]byte(r.body), &got) != nil || got.SystemMetrics.Results["targetedCount"] != 1 ||
		got.SystemMetrics.Results["appliedCount"] != 1 || got.Metrics.Results["all"] != 1 {
		t.Fatalf("metrics: %s", r.body)
	}

	r = f.do("PUT", "/configurations/cfg1", `{"id":"cfg1","content":{"deviceContent":{"properties.desired.settings":{"rate":3}}},"targetCondition":"tags.site='a'","priority":9}`, "If-Match", `"`+etag+`"`)
	if r.status != 200 || json.Unmarshal([]byte(r.body), &c) != nil || c["priority"] != 9.0 || c["etag"] == etag {
		t.Fatalf("update: %d %s", r.status, r.body)
	}
	r = f.do("GET", "/configurations?top=5", "")
	var list []map[string]any
	if r.status != 200 || json.Unmarshal([]byte(r.body), &list) != nil || len(list) != 1 {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	r = f.do("POST", "/configurations/testQueries", `{"targetCondition":"tags.a = ","customMetricQueries":{"ok":"SELECT deviceId FROM devices","bad":"SELECT"}}`)
	var tq struct {
		TargetConditionError    string            `json:"targetConditionError"`
		CustomMetricQueryErrors map[string]string `json:"customMetricQueryErrors"`
	}
	if r.status != 200 || json.Unmarshal([]byte(r.body), &tq) != nil || tq.TargetConditionError == "" ||
		tq.CustomMetricQueryErrors["bad"] == "" || tq.CustomMetricQueryErrors["ok"] != "" {
		t.Fatalf("testQueries: %d %s", r.status, r.body)
	}
	if r = f.do("DELETE", "/configurations/cfg1", ""); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	wantError(t, f.do("GET", "/configurations/cfg1", ""), 404, "IotHubNotFound")
}

func TestApplyConfigurationContentRoute(t *testing.T) {
	f, _ := newConfigurationsFixture(t)
	f.do("PUT", "/devices/gw", `{"deviceId":"gw","capabilities":{"iotEdge":true}}`)
	f.do("PUT", "/devices/plain", `{"deviceId":"plain"}`)
	content := `{"modulesContent":{"$edgeAgent":{"properties.desired":{"schemaVersion":"1.1","modules":{}}},"$edgeHub":{"properties.desired":{"schemaVersion":"1.1","routes":{}}}}}`
	r := f.do("POST", "/devices/gw/applyConfigurationContent?api-version=2021-04-12", content)
	if r.status != 204 || r.body != "" {
		t.Fatalf("apply: %d %s", r.status, r.body)
	}
	r = f.do("GET", "/twins/gw/modules/$edgeAgent", "")
	var tw struct {
		Properties struct{ Desired map[string]any }
	}
	if r.status != 200 || json.Unmarshal([]byte(r.body), &tw) != nil || tw.Properties.Desired["schemaVersion"] != "1.1" {
		t.Fatalf("$edgeAgent twin after apply: %d %s", r.status, r.body)
	}
	for _, tt := range []struct {
		name, path, body string
		status           int
		code             string
	}{
		{"not edge", "/devices/plain/applyConfigurationContent", content, 400, "ArgumentInvalid"},
		{"no device", "/devices/ghost/applyConfigurationContent", content, 404, "DeviceNotFound"},
		{"no modules content", "/devices/gw/applyConfigurationContent", `{"deviceContent":{"properties.desired.a":1}}`, 400, "ArgumentNull"},
		{"not json", "/devices/gw/applyConfigurationContent", `{`, 400, "ArgumentInvalid"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, f.do("POST", tt.path, tt.body), tt.status, tt.code)
		})
	}
}
