package configurations

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/hub"
	"github.com/iothub-emulator/iothub-emulator/internal/hubtest"
	"github.com/iothub-emulator/iothub-emulator/internal/storetest"
	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
	"github.com/iothub-emulator/iothub-emulator/store"
)

type env struct {
	t     *testing.T
	st    store.Store
	hub   *hub.Hub
	devs  *hubtest.Devices
	clock *testkit.Clock
}

func newEnv(t *testing.T, path string) *env {
	t.Helper()
	st := storetest.Open(t, path)
	devs := hubtest.NewDevices()
	clock := testkit.NewClock()
	h := hubtest.Open(t, hub.Options{Store: st, Devices: devs, Now: clock.Now})
	return &env{t: t, st: st, hub: h, devs: devs, clock: clock}
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

func (e *env) desired(id string) map[string]any {
	e.t.Helper()
	tw, err := e.hub.GetTwin(context.Background(), id, "")
	if err != nil {
		e.t.Fatal(err)
	}
	return tw["properties"].(map[string]any)["desired"].(map[string]any)
}

func (e *env) put(m *Manager, id, body, ifMatch string) *Configuration {
	e.t.Helper()
	c, _, err := m.Put(context.Background(), id, []byte(body), ifMatch)
	if err != nil {
		e.t.Fatalf("put %s: %v", id, err)
	}
	return c
}

func (e *env) reconcile(m *Manager) {
	e.t.Helper()
	if err := m.Reconcile(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

func TestApplyPriorityAndMetrics(t *testing.T) {
	e := newEnv(t, filepath.Join(t.TempDir(), "hub.db"))
	e.device("d1", `{"site":"a"}`)
	e.device("d2", `{"site":"a","ring":"canary"}`)
	e.device("d3", `{"site":"b"}`)
	m := e.manager()

	e.put(m, "base", `{"id":"base","content":{"deviceContent":{"properties.desired.settings":{"rate":1}}},
		"targetCondition":"tags.site = 'a'","priority":1,
		"metrics":{"queries":{"reported":"SELECT deviceId FROM devices WHERE properties.reported.rate = 1"}}}`, "")
	e.clock.Advance(time.Second)
	e.put(m, "canary", `{"id":"canary","content":{"deviceContent":{"properties.desired.settings":{"rate":5}}},
		"targetCondition":"tags.ring = 'canary'","priority":10}`, "")
	e.reconcile(m)

	if got := e.desired("d1")["settings"].(map[string]any)["rate"]; got != 1.0 {
		t.Fatalf("d1 rate %v", got)
	}
	if got := e.desired("d2")["settings"].(map[string]any)["rate"]; got != 5.0 {
		t.Fatalf("d2 rate %v, want the higher priority's 5", got)
	}
	if _, ok := e.desired("d3")["settings"]; ok {
		t.Fatal("d3 is not targeted but got settings")
	}
	_, base, _ := m.Get("base")
	_, canary, _ := m.Get("canary")
	if base.Targeted != 2 || base.Applied != 1 || canary.Targeted != 1 || canary.Applied != 1 {
		t.Fatalf("counts base %+v canary %+v", base, canary)
	}
	if base.Custom["reported"] != 0 {
		t.Fatalf("custom metric %v", base.Custom)
	}
	if _, err := e.hub.PatchReported(context.Background(), "d1", "", []byte(`{"rate":1}`)); err != nil {
		t.Fatal(err)
	}
	// A second sweep writes nothing more and counts the reported device.
	before := len(e.devs.Desired())
	e.reconcile(m)
	if after := len(e.devs.Desired()); after != before {
		t.Fatalf("a sweep with nothing to do sent %d notifications", after-before)
	}
	if _, base, _ = m.Get("base"); base.Custom["reported"] != 1 {
		t.Fatalf("custom metric %v", base.Custom)
	}

	// A tag change moves d3 into the target.
	if _, err := e.hub.UpdateTwin(context.Background(), "d3", "", []byte(`{"tags":{"site":"a"}}`), "", false); err != nil {
		t.Fatal(err)
	}
	e.reconcile(m)
	if got := e.desired("d3")["settings"].(map[string]any)["rate"]; got != 1.0 {
		t.Fatalf("d3 rate %v after its tag changed", got)
	}
}

func TestEqualPriorityNewestWins(t *testing.T) {
	e := newEnv(t, filepath.Join(t.TempDir(), "hub.db"))
	e.device("d1", `{"site":"a"}`)
	m := e.manager()
	e.put(m, "old", `{"content":{"deviceContent":{"properties.desired.v":"old"}},"targetCondition":"tags.site='a'","priority":3}`, "")
	e.clock.Advance(time.Second)
	e.put(m, "new", `{"content":{"deviceContent":{"properties.desired.v":"new"}},"targetCondition":"tags.site='a'","priority":3}`, "")
	e.reconcile(m)
	if got := e.desired("d1")["v"]; got != "new" {
		t.Fatalf("v = %v, want the newest configuration's", got)
	}
}

func TestUpdateRules(t *testing.T) {
	e := newEnv(t, filepath.Join(t.TempDir(), "hub.db"))
	m := e.manager()
	ctx := context.Background()
	c := e.put(m, "cfg", `{"content":{"deviceContent":{"properties.desired.x":1}},"targetCondition":"*","priority":1,"labels":{"a":"b"}}`, "")

	tests := []struct {
		name, body, ifMatch string
		code                errcode.Code
	}{
		{"create again", `{"content":{"deviceContent":{"properties.desired.x":1}}}`, "", errcode.PreconditionFailed},
		{"stale etag", `{"content":{"deviceContent":{"properties.desired.x":1}}}`, `"nope"`, errcode.PreconditionFailed},
		{"content changed", `{"content":{"deviceContent":{"properties.desired.x":2}}}`, "*", errcode.ArgumentInvalid},
		{"bad condition", `{"content":{"deviceContent":{"properties.desired.x":1}},"targetCondition":"tags.a ="}`, "*", errcode.ArgumentInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := m.Put(ctx, "cfg", []byte(tt.body), tt.ifMatch)
			if !errors.Is(err, tt.code) {
				t.Fatalf("err %v, want %v", err, tt.code)
			}
			if got, _, _ := m.Get("cfg"); got != c {
				t.Fatal("a refused update changed the configuration")
			}
		})
	}
	u, _, err := m.Put(ctx, "cfg", []byte(`{"content":{"deviceContent":{"properties.desired.x":1}},"targetCondition":"tags.a='b'","priority":7,"labels":{"c":"d"}}`), `"`+c.ETag+`"`)
	if err != nil {
		t.Fatal(err)
	}
	if u.Priority != 7 || u.Labels["c"] != "d" || u.ETag == c.ETag || !u.Created.Equal(c.Created) {
		t.Fatalf("updated %+v", u)
	}
	if _, _, err := m.Put(ctx, "missing", []byte(`{"content":{"deviceContent":{"properties.desired.x":1}}}`), "*"); !errors.Is(err, errcode.IotHubNotFound) {
		t.Fatalf("update of a missing configuration: %v", err)
	}
	if err := m.Delete(ctx, "cfg", `"stale"`); !errors.Is(err, errcode.PreconditionFailed) {
		t.Fatalf("delete with a stale etag: %v", err)
	}
	if err := m.Delete(ctx, "cfg", ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Get("cfg"); !errors.Is(err, errcode.IotHubNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
}

func TestParseRefuses(t *testing.T) {
	tests := []struct {
		name, id, body string
		code           errcode.Code
	}{
		{"empty body", "c", ``, errcode.ArgumentNull},
		{"not json", "c", `{`, errcode.ArgumentInvalid},
		{"uppercase id", "Cfg", `{"content":{"deviceContent":{"properties.desired.x":1}}}`, errcode.ArgumentInvalid},
		{"id mismatch", "c", `{"id":"d","content":{"deviceContent":{"properties.desired.x":1}}}`, errcode.ArgumentInvalid},
		{"no content", "c", `{"content":{}}`, errcode.ArgumentNull},
		{"path outside desired", "c", `{"content":{"deviceContent":{"tags.x":1}}}`, errcode.ArgumentInvalid},
		{"reserved segment", "c", `{"content":{"deviceContent":{"properties.desired.$version":1}}}`, errcode.ArgumentInvalid},
		{"device and modules", "c", `{"content":{"deviceContent":{"properties.desired.x":1},"modulesContent":{"$edgeAgent":{}}}}`, errcode.ArgumentInvalid},
		{"negative priority", "c", `{"content":{"deviceContent":{"properties.desired.x":1}},"priority":-1}`, errcode.ArgumentInvalid},
		{"module paths over devices", "c", `{"content":{"moduleContent":{"properties.desired.x":1}},"targetCondition":"tags.a = 1"}`, errcode.ArgumentInvalid},
		{"modules target without module content", "c", `{"content":{"deviceContent":{"properties.desired.x":1}},"targetCondition":"FROM devices.modules WHERE moduleId = 'm'"}`, errcode.ArgumentInvalid},
		{"bad module id", "c", `{"content":{"modulesContent":{"a b":{}}}}`, errcode.ArgumentInvalid},
		{"module content not an object", "c", `{"content":{"modulesContent":{"$edgeAgent":1}}}`, errcode.ArgumentInvalid},
		{"whole desired not an object", "c", `{"content":{"modulesContent":{"$edgeAgent":{"properties.desired":1}}}}`, errcode.ArgumentInvalid},
		{"module path outside desired", "c", `{"content":{"modulesContent":{"$edgeAgent":{"tags.x":1}}}}`, errcode.ArgumentInvalid},
		{"bad metric", "c", `{"content":{"deviceContent":{"properties.desired.x":1}},"metrics":{"queries":{"m":"SELECT FROM"}}}`, errcode.ArgumentInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse(tt.id, []byte(tt.body)); !errors.Is(err, tt.code) {
				t.Fatalf("err %v, want %v", err, tt.code)
			}
		})
	}
}

func TestSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.db")
	e := newEnv(t, path)
	m := e.manager()
	c := e.put(m, "edge", `{"content":{"modulesContent":{"$edgeAgent":{"properties.desired":{"schemaVersion":"1.1"}}}},"targetCondition":"tags.edge=true"}`, "")
	m.Close()
	m2, err := Open(Options{Store: e.st, Hub: e.hub, Now: e.clock.Now, Manual: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	got, _, err := m2.Get("edge")
	if err != nil {
		t.Fatal(err)
	}
	if got.ETag != c.ETag || got.Content.ModulesContent["$edgeAgent"] == nil {
		t.Fatalf("reloaded %+v", got)
	}
	next := e.put(m2, "other", `{"content":{"deviceContent":{"properties.desired.x":1}}}`, "")
	if next.ETag == c.ETag {
		t.Fatal("an etag was reused after a restart")
	}
}

func TestReset(t *testing.T) {
	e := newEnv(t, filepath.Join(t.TempDir(), "hub.db"))
	m := e.manager()
	e.put(m, "cfg", `{"content":{"deviceContent":{"properties.desired.x":1}}}`, "")
	if err := m.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := m.List(0); len(got) != 0 {
		t.Fatalf("after reset: %v", got)
	}
	m.Close()
	if got := e.manager().List(0); len(got) != 0 {
		t.Fatalf("after reopen: %v", got)
	}
}
