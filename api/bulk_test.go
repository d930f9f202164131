package api

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestBulkRegistryAPI(t *testing.T) {
	f := newFixture(t)
	r := f.do("POST", "/devices?api-version=2021-04-12", `[{"id":"b1","importMode":"create"},{"id":"b2","importMode":"create","status":"disabled"}]`)
	if r.status != 200 || r.header.Get("iothub-errorcode") != "" {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if r.body != `{"isSuccessful":true,"errors":[],"warnings":[]}` {
		t.Fatalf("body = %s", r.body)
	}
	if g := f.do("GET", "/devices/b2", ""); g.status != 200 || !strings.Contains(g.body, `"status":"disabled"`) {
		t.Fatalf("b2: %d %s", g.status, g.body)
	}

	// A partial failure: 400, the result body, the others applied.
	r = f.do("POST", "/devices/", `[{"id":"b1","importMode":"create"},{"id":"b3","importMode":"create"},{"id":"b2","importMode":"delete"}]`)
	if r.status != 400 || r.header.Get("iothub-errorcode") != "BulkRegistryOperationFailure" {
		t.Fatalf("partial: %d %v %s", r.status, r.header, r.body)
	}
	var res struct {
		IsSuccessful bool `json:"isSuccessful"`
		Errors       []struct{ DeviceID, ErrorCode, ErrorStatus string }
	}
	if err := json.Unmarshal([]byte(r.body), &res); err != nil {
		t.Fatal(err)
	}
	if res.IsSuccessful || len(res.Errors) != 1 || res.Errors[0].DeviceID != "b1" || res.Errors[0].ErrorCode != "DeviceAlreadyExists" || res.Errors[0].ErrorStatus == "" {
		t.Fatalf("result = %s", r.body)
	}
	if g := f.do("GET", "/devices/b3", ""); g.status != 200 {
		t.Fatalf("b3 not created: %d", g.status)
	}
	if g := f.do("GET", "/devices/b2", ""); g.status != 404 {
		t.Fatalf("b2 not deleted: %d", g.status)
	}
}

func TestBulkRegistryAPIRefusals(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name, body string
		status     int
		code       string
	}{
		{"not an array", `{"id":"x"}`, 400, "ArgumentInvalid"},
		{"empty", `[]`, 400, "ArgumentInvalid"},
		{"repeated", `[{"id":"x","importMode":"create"},{"id":"x","importMode":"create"}]`, 400, "DeviceDefinedMultipleTimes"},
		{"over 100", "[" + strings.Repeat(`{"id":"x","importMode":"create"},`, 100) + `{"id":"y","importMode":"create"}]`, 413, "TooManyDevices"},
		{"no mode", `[{"id":"x"},{"id":"y","importMode":"create"}]`, 400, "ArgumentNull"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, f.do("POST", "/devices", tc.body), tc.status, tc.code)
			if g := f.do("GET", "/devices", ""); g.body != "[]" {
				t.Fatalf("devices after a refused call: %s", g.body)
			}
		})
	}
	// Registry write is needed: a read-only policy is refused.
	f.token = policyToken(t, f.hub, "registryRead")
	wantError(t, f.do("POST", "/devices", `[{"id":"x","importMode":"create"}]`), 401, "IotHubUnauthorized")
}
