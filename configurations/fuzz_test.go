package configurations

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// FuzzParse: any body is refused with a catalogue error or yields a
// configuration whose every twin write encodes as a twin body.
func FuzzParse(f *testing.F) {
	f.Add("cfg", `{"content":{"deviceContent":{"properties.desired.a.b":1}},"targetCondition":"tags.x = 1","priority":2}`)
	f.Add("cfg", `{"content":{"modulesContent":{"$edgeAgent":{}}},"metrics":{"queries":{"m":"SELECT deviceId FROM devices"}}}`)
	f.Add("edge", `{"content":{"modulesContent":{"$edgeHub":{"properties.desired":{"routes":{}}},"m":{"properties.desired.a":1}}}}`)
	f.Add("mod", `{"content":{"moduleContent":{"properties.desired.x":1}},"targetCondition":"FROM devices.modules WHERE moduleId = 'm'"}`)
	f.Add("Bad", `{}`)
	f.Fuzz(func(t *testing.T, id, body string) {
		c, err := Parse(id, []byte(body))
		if err != nil {
			var e *errcode.Error
			if !errors.As(err, &e) {
				t.Fatalf("refusal %v is not a catalogue error", err)
			}
			return
		}
		writes := []twinWrite{{paths: c.Content.DeviceContent}, {paths: c.Content.ModuleContent}}
		_, modules := moduleWrites(c.Content.ModulesContent)
		for _, w := range modules {
			writes = append(writes, w)
		}
		doc := map[string]any{"etag": "AAAAAAAAAAE=", "properties": map[string]any{"desired": map[string]any{"old": 1.0}}}
		for _, w := range writes {
			body, _, _, err := w.update(doc)
			if err != nil || !json.Valid(body) {
				t.Fatalf("update %s: %v", body, err)
			}
		}
	})
}

// FuzzParseContent: any applyConfigurationContent body is refused with a
// catalogue error or gives module writes that encode as twin bodies.
func FuzzParseContent(f *testing.F) {
	f.Add(`{"modulesContent":{"$edgeAgent":{"properties.desired":{"schemaVersion":"1.1"}},"m":{"properties.desired.a.b":1}}}`)
	f.Add(`{"modulesContent":{"$edgeHub":{}},"deviceContent":{"properties.desired.x":1}}`)
	f.Add(`{"moduleContent":{"properties.desired.x":1}}`)
	f.Fuzz(func(t *testing.T, body string) {
		c, err := ParseContent([]byte(body))
		if err != nil {
			var e *errcode.Error
			if !errors.As(err, &e) {
				t.Fatalf("refusal %v is not a catalogue error", err)
			}
			return
		}
		_, writes := moduleWrites(c.ModulesContent)
		doc := map[string]any{"etag": "AAAAAAAAAAE=", "tags": map[string]any{"k": "v"}}
		for name, w := range writes {
			b, _, _, err := w.update(doc)
			if err != nil || !json.Valid(b) {
				t.Fatalf("%s: update %s: %v", name, b, err)
			}
		}
	})
}
