package configurations

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// twinOf returns a device (moduleID "") or module twin.
func (e *env) twinOf(deviceID, moduleID string) map[string]any {
	e.t.Helper()
	tw, err := e.hub.GetTwin(context.Background(), deviceID, moduleID)
	if err != nil {
		e.t.Fatal(err)
	}
	return tw
}

func (e *env) edgeDevice(id, tags string) {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.hub.PutDevice(ctx, id, []byte(`{"capabilities":{"iotEdge":true}}`), ""); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.hub.UpdateTwin(ctx, id, "", []byte(`{"tags":`+tags+`}`), "", false); err != nil {
		e.t.Fatal(err)
	}
}

// statusesOf is a twin's configurations property as id → status.
func statusesOf(tw map[string]any) map[string]string {
	out := map[string]string{}
	prop, _ := tw["configurations"].(map[string]any)
	for id, v := range prop {
		out[id], _ = v.(map[string]any)["status"].(string)
	}
	return out
}

func TestTwinConfigurationsProperty(t *testing.T) {
	e := newEnv(t, filepath.Join(t.TempDir(), "hub.db"))
	e.device("d1", `{"site":"a"}`)
	e.device("d2", `{"site":"b"}`)
	m := e.manager()
	e.put(m, "low", `{"content":{"deviceContent":{"properties.desired.v":"low"}},"targetCondition":"tags.site='a'","priority":1}`, "")
	e.put(m, "high", `{"content":{"deviceContent":{"properties.desired.v":"high"}},"targetCondition":"*","priority":5}`, "")
	before := e.twinOf("d1", "")
	e.reconcile(m)

	d1 := e.twinOf("d1", "")
	if got, want := statusesOf(d1), map[string]string{"high": "Applied", "low": "Targeted"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("d1 configurations %v, want %v", got, want)
	}
	if got, want := statusesOf(e.twinOf("d2", "")), map[string]string{"high": "Applied"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("d2 configurations %v, want %v", got, want)
	}
	// The status moves no identity etag; the twin moved only for the content.
	if d1["deviceEtag"] != before["deviceEtag"] || d1["version"] != before["version"].(float64)+1 {
		t.Fatalf("deviceEtag %v→%v, version %v→%v", before["deviceEtag"], d1["deviceEtag"], before["version"], d1["version"])
	}
	// The system metric queries IoT Hub defines select the same twins.
	c, n, _ := m.Get("high")
	w := c.Wire(n)["systemMetrics"].(map[string]any)
	applied := w["queries"].(map[string]string)["appliedCount"]
	rows, err := m.twins(context.Background(), applied)
	if err != nil {
		t.Fatalf("%s: %v", applied, err)
	}
	if int64(len(rows)) != n.Applied || n.Applied != 2 {
		t.Fatalf("appliedCount query %q selects %d, counted %d", applied, len(rows), n.Applied)
	}

	// A device leaving a target loses its status; deleting every
	// configuration clears the property.
	if _, err := e.hub.UpdateTwin(context.Background(), "d1", "", []byte(`{"tags":{"site":"z"}}`), "", false); err != nil {
		t.Fatal(err)
	}
	e.reconcile(m)
	if got := statusesOf(e.twinOf("d1", "")); !reflect.DeepEqual(got, map[string]string{"high": "Applied"}) {
		t.Fatalf("d1 after leaving low's target: %v", got)
	}
	for _, id := range []string{"low", "high"} {
		if err := m.Delete(context.Background(), id, ""); err != nil {
			t.Fatal(err)
		}
	}
	e.reconcile(m)
	for _, id := range []string{"d1", "d2"} {
		if _, ok := e.twinOf(id, "")["configurations"]; ok {
			t.Fatalf("%s still shows configurations after all were deleted", id)
		}
	}
}

func TestEdgeDeployment(t *testing.T) {
	e := newEnv(t, filepath.Join(t.TempDir(), "hub.db"))
	e.edgeDevice("gw1", `{"env":"prod"}`)
	e.device("plain", `{"env":"prod"}`) // not an IoT Edge device: never deployed to
	ctx := context.Background()
	if _, err := e.hub.UpdateTwin(ctx, "gw1", "$edgeHub", []byte(`{"tags":{"keep":true},"properties":{"desired":{"stale":1}}}`), "", false); err != nil {
		t.Fatal(err)
	}
	m := e.manager()
	e.put(m, "base", `{"content":{"modulesContent":{
		"$edgeAgent":{"properties.desired":{"schemaVersion":"1.1","modules":{"sim":{"type":"docker"}}}},
		"$edgeHub":{"properties.desired":{"schemaVersion":"1.1","routes":{"all":"FROM /messages/* INTO $upstream"}}}}},
		"targetCondition":"tags.env='prod'","priority":1}`, "")
	e.clock.Advance(time.Second)
	e.put(m, "layer", `{"content":{"modulesContent":{"$edgeAgent":{"properties.desired.modules.extra":{"type":"docker"}}}},
		"targetCondition":"tags.env='prod'","priority":0}`, "")
	e.reconcile(m)

	agent := desiredOf(e.twinOf("gw1", "$edgeAgent"))
	if agent["schemaVersion"] != "1.1" || agent["modules"].(map[string]any)["sim"] == nil {
		t.Fatalf("$edgeAgent desired %v", agent)
	}
	hubTwin := e.twinOf("gw1", "$edgeHub")
	if d := desiredOf(hubTwin); d["routes"] == nil || d["stale"] != nil {
		t.Fatalf("$edgeHub desired %v: the base deployment replaces the whole set", d)
	}
	if hubTwin["tags"].(map[string]any)["keep"] != true {
		t.Fatalf("the deployment lost $edgeHub's tags: %v", hubTwin["tags"])
	}
	if got, want := statusesOf(e.twinOf("gw1", "$edgeAgent")), map[string]string{"base": "Applied", "layer": "Targeted"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("$edgeAgent configurations %v, want %v", got, want)
	}
	if _, ok := e.twinOf("plain", "")["configurations"]; ok {
		t.Fatal("a device that is not an IoT Edge device shows a deployment")
	}
	_, n, _ := m.Get("base")
	if n.Targeted != 1 || n.Applied != 1 {
		t.Fatalf("base counts %+v", n)
	}
	// A sweep with nothing to change writes nothing.
	v := e.twinOf("gw1", "$edgeAgent")["version"]
	e.reconcile(m)
	if got := e.twinOf("gw1", "$edgeAgent")["version"]; got != v {
		t.Fatalf("$edgeAgent version %v → %v on an idle sweep", v, got)
	}
}

func TestModuleContent(t *testing.T) {
	e := newEnv(t, filepath.Join(t.TempDir(), "hub.db"))
	ctx := context.Background()
	e.device("d1", "")
	for _, mid := range []string{"cam", "other"} {
		if _, err := e.hub.PutModule(ctx, "d1", mid, []byte(`{}`), ""); err != nil {
			t.Fatal(err)
		}
	}
	m := e.manager()
	e.put(m, "cams", `{"content":{"moduleContent":{"properties.desired.fps":30}},"targetCondition":"FROM devices.modules WHERE moduleId = 'cam'"}`, "")
	e.reconcile(m)
	if got := desiredOf(e.twinOf("d1", "cam"))["fps"]; got != 30.0 {
		t.Fatalf("cam fps %v", got)
	}
	if got := desiredOf(e.twinOf("d1", "other"))["fps"]; got != nil {
		t.Fatalf("other fps %v: not targeted", got)
	}
	if got := statusesOf(e.twinOf("d1", "cam")); got["cams"] != "Applied" {
		t.Fatalf("cam configurations %v", got)
	}
	if _, n, _ := m.Get("cams"); n.Targeted != 1 || n.Applied != 1 {
		t.Fatalf("counts %+v", n)
	}
}

func TestApplyContent(t *testing.T) {
	e := newEnv(t, filepath.Join(t.TempDir(), "hub.db"))
	e.edgeDevice("gw1", `{}`)
	e.device("plain", "")
	m := e.manager()
	ctx := context.Background()
	content := `{"modulesContent":{"$edgeAgent":{"properties.desired":{"schemaVersion":"1.1"}},"$edgeHub":{"properties.desired":{"schemaVersion":"1.1","routes":{}}}}}`
	if err := m.ApplyContent(ctx, "gw1", []byte(content)); err != nil {
		t.Fatal(err)
	}
	if got := desiredOf(e.twinOf("gw1", "$edgeHub")); got["schemaVersion"] != "1.1" {
		t.Fatalf("$edgeHub desired %v", got)
	}
	tests := []struct {
		name, device, body string
		code               errcode.Code
	}{
		{"empty", "gw1", ``, errcode.ArgumentNull},
		{"no modules", "gw1", `{"deviceContent":{"properties.desired.x":1}}`, errcode.ArgumentNull},
		{"not edge", "plain", content, errcode.ArgumentInvalid},
		{"unknown device", "nope", content, errcode.DeviceNotFound},
		{"unknown module", "gw1", `{"modulesContent":{"$edgeAgent":{"properties.desired":{"schemaVersion":"9"}},"ghost":{"properties.desired":{}}}}`, errcode.ModuleNotFound},
		{"bad path", "gw1", `{"modulesContent":{"$edgeAgent":{"tags.x":1}}}`, errcode.ArgumentInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.twinOf("gw1", "$edgeAgent")["version"]
			if err := m.ApplyContent(ctx, tt.device, []byte(tt.body)); !errors.Is(err, tt.code) {
				t.Fatalf("err %v, want %v", err, tt.code)
			}
			if after := e.twinOf("gw1", "$edgeAgent")["version"]; after != before {
				t.Fatal("a refused call wrote $edgeAgent's twin")
			}
		})
	}
}
