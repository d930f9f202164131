package api

import (
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/iothub-emulator/iothub-emulator/hub"
	"github.com/iothub-emulator/iothub-emulator/internal/hubtest"
	"github.com/iothub-emulator/iothub-emulator/internal/storetest"
	"github.com/iothub-emulator/iothub-emulator/jobs"
)

func newJobsFixture(t *testing.T) (*fixture, *jobs.Manager) {
	t.Helper()
	st := storetest.Temp(t)
	h := hubtest.Open(t, hub.Options{Store: st})
	m, err := jobs.Open(jobs.Options{Store: st, Hub: h, Manual: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	f := newFixture(t)
	srv := httptest.NewServer(New(h, Options{Jobs: m}))
	t.Cleanup(srv.Close)
	f.srv, f.hub = srv, h
	return f, m
}

func TestJobsRoutes(t *testing.T) {
	f, m := newJobsFixture(t)
	f.do("PUT", "/devices/d1", `{"deviceId":"d1"}`)
	body := `{"jobId":"j1","type":"scheduleUpdateTwin","queryCondition":"deviceId = 'd1'","updateTwin":{"etag":"*","tags":{"a":1}}}`
	r := f.do("PUT", "/jobs/v2/j1?api-version=2021-04-12", body)
	var j map[string]any
	if r.status != 200 || json.Unmarshal([]byte(r.body), &j) != nil || j["status"] != "queued" || j["jobId"] != "j1" {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	wantError(t, f.do("PUT", "/jobs/v2/j1", body), 400, "ArgumentInvalid")
	wantError(t, f.do("PUT", "/jobs/v2/j2", `{"type":"scheduleUpdateTwin"}`), 400, "ArgumentNull")
	wantError(t, f.do("GET", "/jobs/v2/nope", ""), 404, "JobNotFound")
	wantError(t, f.do("POST", "/jobs/v2/nope/cancel", ""), 404, "JobNotFound")
	wantError(t, f.do("GET", "/jobs/v2/query?jobType=bogus", ""), 400, "ArgumentInvalid")
	if len(m.List("", "")) != 1 {
		t.Fatal("a refused request created a job")
	}

	m.RunDue(testContext(t))
	r = f.do("GET", "/jobs/v2/j1", "")
	json.Unmarshal([]byte(r.body), &j)
	stats, _ := j["deviceJobStatistics"].(map[string]any)
	if j["status"] != "completed" || stats["succeededCount"] != 1.0 || j["endTime"] == nil {
		t.Fatalf("after run: %s", r.body)
	}

	for i := 2; i <= 3; i++ {
		id := "j" + string(rune('0'+i))
		f.do("PUT", "/jobs/v2/"+id, `{"type":"scheduleDeviceMethod","queryCondition":"deviceId = 'd1'","cloudToDeviceMethod":{"methodName":"m"}}`)
	}
	r = f.do("POST", "/jobs/v2/j3/cancel", "")
	if json.Unmarshal([]byte(r.body), &j); r.status != 200 || j["status"] != "cancelled" {
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}
	r = f.do("GET", "/jobs/v2/query?jobType=scheduleDeviceMethod", "", "x-ms-max-item-count", "1")
	var page []map[string]any
	if json.Unmarshal([]byte(r.body), &page); r.status != 200 || len(page) != 1 || page[0]["jobId"] != "j2" ||
		r.header.Get("x-ms-continuation") == "" || r.header.Get("x-ms-item-type") != "JobResponse" {
		t.Fatalf("page 1: %d %v %s", r.status, r.header, r.body)
	}
	r = f.do("GET", "/jobs/v2/query?jobType=scheduleDeviceMethod", "", "x-ms-max-item-count", "1", "x-ms-continuation", r.header.Get("x-ms-continuation"))
	if json.Unmarshal([]byte(r.body), &page); len(page) != 1 || page[0]["jobId"] != "j3" || r.header.Get("x-ms-continuation") != "" {
		t.Fatalf("page 2: %v %s", r.header, r.body)
	}
	r = f.do("GET", "/jobs/v2/query?jobStatus=completed", "")
	if json.Unmarshal([]byte(r.body), &page); len(page) != 1 || page[0]["jobId"] != "j1" {
		t.Fatalf("by status: %s", r.body)
	}
}
