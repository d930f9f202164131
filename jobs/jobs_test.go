package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/hub"
	"github.com/iothub-emulator/iothub-emulator/internal/hubtest"
	"github.com/iothub-emulator/iothub-emulator/internal/storetest"
	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
	"github.com/iothub-emulator/iothub-emulator/query"
	"github.com/iothub-emulator/iothub-emulator/store"
)

// devicesAnswering answers direct methods for the online devices with 200
// and {"device": id}, counting calls; the others are not online.
type devicesAnswering struct {
	mu     sync.Mutex
	online map[string]bool
	calls  []string
}

func (d *devicesAnswering) InvokeMethod(_ context.Context, deviceID, _, name string, _ []byte, _, _ time.Duration) (int, []byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, deviceID+" "+name)
	if !d.online[deviceID] {
		return 0, nil, errcode.New(errcode.DeviceNotOnline, "The device is not online.")
	}
	return 200, []byte(`{"device":"` + deviceID + `"}`), nil
}

type env struct {
	t     *testing.T
	st    store.Store
	hub   *hub.Hub
	clock *testkit.Clock
	devs  *devicesAnswering
}

func newEnv(t *testing.T, path string) *env {
	t.Helper()
	st := storetest.Open(t, path)
	devs := hubtest.NewDevices()
	answering := &devicesAnswering{online: map[string]bool{"d1": true, "d2": true}}
	devs.SetInvoker(answering)
	clock := testkit.NewClock()
	h := hubtest.Open(t, hub.Options{Store: st, Devices: devs, Now: clock.Now})
	return &env{t: t, st: st, hub: h, clock: clock, devs: answering}
}

func (e *env) manager() *Manager {
	e.t.Helper()
	m, err := Open(Options{Store: e.st, Hub: e.hub, Now: e.clock.Now, Manual: true})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { m.Close() })
	return m
}

func (e *env) device(id, tags string) {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.hub.PutDevice(ctx, id, []byte(`{"deviceId":"`+id+`"}`), ""); err != nil {
		e.t.Fatal(err)
	}
	if tags != "" {
		if _, err := e.hub.UpdateTwin(ctx, id, "", []byte(`{"tags":`+tags+`}`), "", false); err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *env) rows(text string) []map[string]any {
	e.t.Helper()
	p, err := e.hub.Query(context.Background(), text, query.PageOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []map[string]any
	for _, it := range p.Items {
		out = append(out, it.(map[string]any))
	}
	return out
}

func TestMethodJobLifecycle(t *testing.T) {
	e := newEnv(t, filepath.Join(t.TempDir(), "hub.db"))
	e.device("d1", `{"site":"a"}`)
	e.device("d2", `{"site":"a"}`)
	e.device("d3", `{"site":"a"}`) // offline
	e.device("other", `{"site":"b"}`)
	m := e.manager()
	ctx := context.Background()

	start := e.clock.Now().Add(time.Minute).Format(time.RFC3339)
	j, err := m.Create(ctx, "job1", []byte(`{"jobId":"job1","type":"scheduleDeviceMethod",
		"cloudToDeviceMethod":{"methodName":"reboot","payload":{"delay":1},"responseTimeoutInSeconds":30},
		"queryCondition":"tags.site = 'a'","startTime":"`+start+`","maxExecutionTimeInSeconds":600}`))
	if err != nil {
		t.Fatal(err)
	}
	if j.Status != StatusScheduled {
		t.Fatalf("status %s, want scheduled", j.Status)
	}
	m.RunDue(ctx)
	if j, _ := m.Get("job1"); j.Status != StatusScheduled || len(e.devs.calls) != 0 {
		t.Fatalf("ran before its start time: %s %v", j.Status, e.devs.calls)
	}
	e.clock.Advance(time.Minute)
	m.RunDue(ctx)
	j, _ = m.Get("job1")
	want := Statistics{DeviceCount: 3, SucceededCount: 2, FailedCount: 1}
	if j.Status != StatusCompleted || j.Stats != want || j.End == nil {
		t.Fatalf("job %s %+v end %v", j.Status, j.Stats, j.End)
	}
	w := j.Wire()
	if w["endTime"] == nil || w["type"] != TypeDeviceMethod || w["jobId"] != "job1" {
		t.Fatalf("wire %v", w)
	}
	rows := e.rows("SELECT * FROM devices.jobs WHERE jobId = 'job1'")
	if len(rows) != 3 {
		t.Fatalf("rows %v", rows)
	}
	if r := rows[0]; r["deviceId"] != "d1" || r["status"] != StatusCompleted ||
		r["outcome"].(map[string]any)["deviceMethodResponse"].(map[string]any)["status"] != 200.0 {
		t.Fatalf("d1 row %v", r)
	}
	if r := rows[2]; r["deviceId"] != "d3" || r["status"] != StatusFailed || r["error"].(map[string]any)["code"] != "DeviceNotOnline" {
		t.Fatalf("d3 row %v", r)
	}
	if got := e.rows("SELECT * FROM devices.jobs WHERE status = 'failed'"); len(got) != 1 {
		t.Fatalf("failed rows %v", got)
	}
}

func TestTwinJobAndQueries(t *testing.T) {
	e := newEnv(t, filepath.Join(t.TempDir(), "hub.db"))
	e.device("d1", "")
	e.device("d2", "")
	m := e.manager()
	ctx := context.Background()
	if _, err := m.Create(ctx, "twin1", []byte(`{"type":"scheduleUpdateTwin","queryCondition":"deviceId IN ['d1','d2']",
		"updateTwin":{"etag":"*","tags":{"fleet":"blue"},"properties":{"desired":{"interval":5}}}}`)); err != nil {
		t.Fatal(err)
	}
	m.RunDue(ctx)
	for _, id := range []string{"d1", "d2"} {
		tw, _ := e.hub.GetTwin(ctx, id, "")
		if tw["tags"].(map[string]any)["fleet"] != "blue" || tw["properties"].(map[string]any)["desired"].(map[string]any)["interval"] != 5.0 {
			t.Fatalf("%s twin %v", id, tw)
		}
	}
	if j, _ := m.Get("twin1"); j.Status != StatusCompleted || j.Stats.SucceededCount != 2 {
		t.Fatalf("job %+v", j)
	}
	if _, err := m.Create(ctx, "m1", []byte(`{"type":"scheduleDeviceMethod","queryCondition":"deviceId = 'd1'","cloudToDeviceMethod":{"methodName":"x"}}`)); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		typ, status string
		want        int
	}{
		{"", "", 2}, {TypeUpdateTwin, "", 1}, {TypeDeviceMethod, "", 1}, {"", StatusQueued, 1}, {TypeUpdateTwin, StatusQueued, 0},
	} {
		if got := m.List(tt.typ, tt.status); len(got) != tt.want {
			t.Errorf("List(%q, %q) = %d jobs, want %d", tt.typ, tt.status, len(got), tt.want)
		}
	}
}

func TestCancel(t *testing.T) {
	e := newEnv(t, filepath.Join(t.TempDir(), "hub.db"))
	e.device("d1", "")
	m := e.manager()
	ctx := context.Background()
	start := e.clock.Now().Add(time.Hour).Format(time.RFC3339)
	if _, err := m.Create(ctx, "later", []byte(`{"type":"scheduleDeviceMethod","queryCondition":"deviceId = 'd1'","cloudToDeviceMethod":{"methodName":"x"},"startTime":"`+start+`"}`)); err != nil {
		t.Fatal(err)
	}
	j, err := m.Cancel(ctx, "later")
	if err != nil || j.Status != StatusCancelled || j.End == nil {
		t.Fatalf("cancel: %+v %v", j, err)
	}
	e.clock.Advance(2 * time.Hour)
	m.RunDue(ctx)
	if j, _ := m.Get("later"); j.Status != StatusCancelled || len(e.devs.calls) != 0 {
		t.Fatalf("cancelled job ran: %s %v", j.Status, e.devs.calls)
	}
	if again, _ := m.Cancel(ctx, "later"); again.Status != StatusCancelled {
		t.Fatalf("second cancel: %s", again.Status)
	}
	if _, err := m.Cancel(ctx, "nope"); !errors.Is(err, errcode.JobNotFound) {
		t.Fatalf("cancel missing: %v", err)
	}
	if _, err := m.Get("nope"); !errors.Is(err, errcode.JobNotFound) {
		t.Fatalf("get missing: %v", err)
	}
}

// A job interrupted by a stop resumes with the devices it had not reached;
// one whose time ran out while stopped fails.
func TestRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.db")
	e := newEnv(t, path)
	e.device("d1", "")
	e.device("d2", "")
	m := e.manager()
	ctx := context.Background()
	for _, id := range []string{"resume", "late"} {
		if _, err := m.Create(ctx, id, []byte(`{"type":"scheduleDeviceMethod","queryCondition":"deviceId IN ['d1','d2']","cloudToDeviceMethod":{"methodName":"`+id+`"},"maxExecutionTimeInSeconds":60}`)); err != nil {
			t.Fatal(err)
		}
	}
	// Take "resume" to running with one device done, as a stop would leave it.
	if _, err := m.update(ctx, "resume", func(j *Job) ([]store.Op, bool) {
		j.Status, j.Devices, j.Done = StatusRunning, []string{"d1", "d2"}, 1
		j.Stats = Statistics{DeviceCount: 2, SucceededCount: 1, PendingCount: 1}
		return nil, true
	}); err != nil {
		t.Fatal(err)
	}
	m.Close()

	m2 := e.manager()
	m2.RunDue(ctx)
	j, _ := m2.Get("resume")
	if j.Status != StatusCompleted || j.Stats.SucceededCount != 2 || j.Stats.PendingCount != 0 {
		t.Fatalf("resumed job %+v", j)
	}
	e.devs.mu.Lock()
	calls := append([]string(nil), e.devs.calls...)
	e.devs.mu.Unlock()
	if len(calls) != 3 || calls[0] != "d2 resume" {
		t.Fatalf("calls %v: the resumed job should reach d2 only", calls)
	}

	// A job past its deadline on restart fails without reaching anyone.
	if _, err := m2.Create(ctx, "expired", []byte(`{"type":"scheduleDeviceMethod","queryCondition":"deviceId = 'd1'","cloudToDeviceMethod":{"methodName":"x"},"maxExecutionTimeInSeconds":60}`)); err != nil {
		t.Fatal(err)
	}
	m2.Close()
	e.clock.Advance(2 * time.Minute)
	m3 := e.manager()
	m3.RunDue(ctx)
	if j, _ := m3.Get("expired"); j.Status != StatusFailed || j.FailureReason == "" {
		t.Fatalf("expired job %+v", j)
	}
	// Rows survive too.
	if rows := e.rows("SELECT * FROM devices.jobs WHERE jobId = 'resume'"); len(rows) != 1 || rows[0]["deviceId"] != "d2" {
		t.Fatalf("rows after restart %v", rows)
	}
}

func TestParseRequestRefusals(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name, id, body string
		code           errcode.Code
	}{
		{"empty body", "j", ``, errcode.ArgumentNull},
		{"not json", "j", `{`, errcode.ArgumentInvalid},
		{"other id", "j", `{"jobId":"k","type":"scheduleDeviceMethod","queryCondition":"deviceId='a'","cloudToDeviceMethod":{"methodName":"m"}}`, errcode.ArgumentInvalid},
		{"no type", "j", `{"queryCondition":"deviceId='a'"}`, errcode.ArgumentNull},
		{"bad type", "j", `{"type":"export","queryCondition":"deviceId='a'"}`, errcode.ArgumentInvalid},
		{"no method", "j", `{"type":"scheduleDeviceMethod","queryCondition":"deviceId='a'"}`, errcode.ArgumentNull},
		{"no method name", "j", `{"type":"scheduleDeviceMethod","queryCondition":"deviceId='a'","cloudToDeviceMethod":{}}`, errcode.ArgumentNull},
		{"no twin", "j", `{"type":"scheduleUpdateTwin","queryCondition":"deviceId='a'"}`, errcode.ArgumentNull},
		{"twin writes nothing", "j", `{"type":"scheduleUpdateTwin","queryCondition":"deviceId='a'","updateTwin":{"etag":"*"}}`, errcode.ArgumentInvalid},
		{"twin bad key", "j", `{"type":"scheduleUpdateTwin","queryCondition":"deviceId='a'","updateTwin":{"tags":{"$x":1}}}`, errcode.ArgumentInvalid},
		{"no condition", "j", `{"type":"scheduleDeviceMethod","cloudToDeviceMethod":{"methodName":"m"}}`, errcode.ArgumentNull},
		{"bad condition", "j", `{"type":"scheduleDeviceMethod","queryCondition":"deviceId = = 1","cloudToDeviceMethod":{"methodName":"m"}}`, errcode.ArgumentInvalid},
		{"bad start", "j", `{"type":"scheduleDeviceMethod","queryCondition":"deviceId='a'","cloudToDeviceMethod":{"methodName":"m"},"startTime":"tomorrow"}`, errcode.ArgumentInvalid},
		{"bad max", "j", `{"type":"scheduleDeviceMethod","queryCondition":"deviceId='a'","cloudToDeviceMethod":{"methodName":"m"},"maxExecutionTimeInSeconds":0}`, errcode.ArgumentInvalid},
		{"bad id", "a\x01", `{}`, errcode.ArgumentInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRequest(tt.id, []byte(tt.body), now)
			if !errors.Is(err, tt.code) {
				t.Fatalf("err = %v, want %v", err, tt.code)
			}
		})
	}
	j, err := ParseRequest("j", []byte(`{"type":"scheduleDeviceMethod","queryCondition":"deviceId='a'","cloudToDeviceMethod":{"methodName":"m"},"startTime":null}`), now)
	if err != nil || j.Status != StatusQueued || !j.Start.Equal(now) || j.MaxExecutionSeconds != 3600 {
		t.Fatalf("defaults: %+v %v", j, err)
	}
}

func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		`{"type":"scheduleDeviceMethod","queryCondition":"deviceId='a'","cloudToDeviceMethod":{"methodName":"m"}}`,
		`{"type":"scheduleUpdateTwin","queryCondition":"tags.x=1","updateTwin":{"tags":{"a":1}},"startTime":"2026-03-01T12:00:00Z","maxExecutionTimeInSeconds":5}`,
		`{}`, `[]`, `null`,
	} {
		f.Add([]byte(s))
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		j, err := ParseRequest("j", body, now)
		if err != nil {
			var e *errcode.Error
			if !errors.As(err, &e) || e.Code.HTTPStatus() != 400 {
				t.Fatalf("refusal %v is not a 400 hub error", err)
			}
			return
		}
		if j.Status != StatusQueued && j.Status != StatusScheduled {
			t.Fatalf("new job status %s", j.Status)
		}
		if _, err := json.Marshal(j.Wire()); err != nil {
			t.Fatalf("wire: %v", err)
		}
	})
}

func TestReset(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.db")
	e := newEnv(t, path)
	e.device("d1", "")
	m := e.manager()
	ctx := context.Background()
	if _, err := m.Create(ctx, "twin1", []byte(`{"type":"scheduleUpdateTwin","queryCondition":"deviceId = 'd1'","updateTwin":{"etag":"*","tags":{"a":1}}}`)); err != nil {
		t.Fatal(err)
	}
	m.RunDue(ctx)
	if rows := e.rows("SELECT * FROM devices.jobs"); len(rows) != 1 {
		t.Fatalf("rows before reset: %v", rows)
	}
	if err := m.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if js := m.List("", ""); len(js) != 0 {
		t.Fatalf("jobs after reset: %v", js)
	}
	if rows := e.rows("SELECT * FROM devices.jobs"); len(rows) != 0 {
		t.Fatalf("rows after reset: %v", rows)
	}
	// Nothing comes back from the store.
	m.Close()
	m2 := e.manager()
	if _, err := m2.Get("twin1"); !errors.Is(err, errcode.JobNotFound) {
		t.Fatalf("after reopen: %v", err)
	}
}
